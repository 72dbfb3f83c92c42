"""Decoding and sampling the real media in ../shared/media/videos, checked against ffprobe."""

from __future__ import annotations

import math
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from framesearch.ingest.video import TIME_EPSILON, DecodeError, VideoInfo, frame_at, sample_frames
from tests.conftest import MEDIA, needs_media
from tests.helpers.synthetic_video import write_colour_video

VIDEOS = sorted((MEDIA / "videos").glob("*")) if (MEDIA / "videos").is_dir() else []
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed (apt-get install ffmpeg)")


def ffprobe_times(path: Path) -> list[float]:
    """Presentation times of every video frame, from ffprobe, relative to the stream's start."""
    start = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    offset = float(start) if start not in ("", "N/A") else 0.0
    lines = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [float(x.strip(",")) - offset for x in lines if x.strip(",") not in ("", "N/A")]


def expected_samples(times: list[float], fps: float) -> list[tuple[int, float]]:
    """The documented rule: the first frame at or after each multiple of 1/fps."""
    kept, next_slot = [], 0
    for index, t in enumerate(times):
        if t + TIME_EPSILON >= next_slot / fps:
            kept.append((index, round(max(t, 0.0), 4)))
            next_slot = math.floor((t + TIME_EPSILON) * fps) + 1
    return kept


@pytest.mark.slow
@needs_media
@needs_ffprobe
@pytest.mark.parametrize("path", VIDEOS, ids=[p.name for p in VIDEOS])
def test_samples_match_ffprobe_frame_times(path):
    fps = 3.0
    probe = ffprobe_times(path)
    samples = list(sample_frames(path, fps, short_side=32))
    expected = expected_samples(probe, fps)
    assert [s.index for s in samples] == [i for i, _ in expected]
    np.testing.assert_allclose([s.timestamp for s in samples], [t for _, t in expected], atol=2e-3)
    duration = probe[-1] + (probe[-1] - probe[-2] if len(probe) > 1 else 0)
    assert abs(len(samples) - duration * fps) <= 1.5
    assert np.diff([s.timestamp for s in samples]).max(initial=0) <= 1 / fps + 0.15
    assert all(s.image.dtype == np.uint8 and s.image.shape[2] == 3 and min(s.image.shape[:2]) == 32 for s in samples)


@needs_media
@pytest.mark.parametrize(
    "name, duration, fps, count",
    [("bikes.mp4", 10.0, 25.0, 250), ("vtest.avi", 79.5, 10.0, 795), ("flower.mp4", 5.005, 29.97, 150)],
)
def test_video_info_reads_the_container(name, duration, fps, count):
    info = VideoInfo.from_video_path(MEDIA / "videos" / name)
    assert info.duration == pytest.approx(duration, abs=0.01)
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.frame_count == count


@pytest.mark.parametrize(
    "name, fps, seconds, options, duration, count",
    [
        ("h264.mp4", 25, 10.0, {}, 10.0, 250),
        ("msmpeg4.avi", 10, 7.9, {"codec": "msmpeg4", "container_format": "avi"}, 7.9, 79),
        ("ntsc.mp4", Fraction(30000, 1001), 5.005, {}, 5.005, 150),
    ],
)
def test_video_info_reads_a_rendered_container(tmp_path, name, fps, seconds, options, duration, count):
    path = write_colour_video(tmp_path / name, [("blue", seconds)], fps=fps, **options)
    info = VideoInfo.from_video_path(path)
    assert info.duration == pytest.approx(duration, abs=0.01)
    assert info.fps == pytest.approx(float(fps), abs=0.01)
    assert info.frame_count == count


def test_stream_without_duration_is_sampled_to_its_end(tmp_path):
    path = write_colour_video(tmp_path / "no-duration.webm", [("black", 3.0)], codec="libvpx", seekable=False)
    info = VideoInfo.from_video_path(path)
    assert info.duration is None and info.frame_count is None
    samples = list(sample_frames(path, 2.0))
    assert len(samples) >= 2 and samples[0].timestamp == 0.0
    assert np.asarray([s.image.mean() for s in samples]).max() < 20  # black frames


def test_frame_at_returns_the_frame_shown_then(tmp_path):
    path = write_colour_video(tmp_path / "cut.mp4", [((0, 0, 0), 1.0), ("green", 4.0)], fps=30)
    black = frame_at(path, 0.5)
    leaf = frame_at(path, 3.0)
    assert black.mean() < 10 and leaf.mean() > 30


def test_fractional_fps_and_high_rates(tmp_path):
    path = write_colour_video(tmp_path / "ntsc.mp4", [("red", 5.005)], fps=Fraction(30000, 1001))  # 150 frames
    every = list(sample_frames(path, 1000.0, short_side=16))
    assert len(every) == 150
    half = list(sample_frames(path, 0.5, short_side=16))
    assert [s.timestamp for s in half] == pytest.approx([0.0, 2.002, 4.004], abs=1e-3)


def test_bad_inputs_raise_decode_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DecodeError, match="junk.mp4"):
        list(sample_frames(junk, 1.0))
    with pytest.raises(DecodeError, match="no such file"):
        VideoInfo.from_video_path(tmp_path / "missing.mp4")
    with pytest.raises(Exception, match="fps"):
        list(sample_frames(junk, 0))
