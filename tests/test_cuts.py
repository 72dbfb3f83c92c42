"""Shot cut detection: the built-in detector finds cuts in any pixel format without OpenCV; the optional
PySceneDetect detector's faster per-frame score is PySceneDetect's own, asking for it without the extra is a clear
error; and the detector thread of an ingest finds what the detector finds inline."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from framesearch.errors import InvalidInput, MissingDependency
from framesearch.ingest.cuts import (
    BackgroundCuts,
    CutDetector,
    FrameSampler,
    SceneDetectCuts,
    adaptive_detector_class,
    cut_detector,
    median_u8,
)
from framesearch.ingest.video import Prefetch, VideoInfo, sample_frames
from tests.conftest import MEDIA, needs_media
from tests.helpers.synthetic_video import write_shapes_video

SCENES = [("square", "white", "black", 1.5), ("circle", "red", "white", 1.2), ("triangle", "green", "black", 1.3)]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes_video(tmp_path_factory.mktemp("cuts") / "shapes.mp4", SCENES, fps=10)


def decoded(path, fmt=None):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(f.reformat(format=fmt) if fmt else f, float(f.pts * stream.time_base)) for f in container.decode(stream)]


@pytest.mark.parametrize("fmt", [None, "yuv444p", "yuv422p", "yuvj420p", "nv12", "rgb24", "gray", "yuv420p10le"])
def test_the_builtin_detector_finds_the_cuts_in_any_pixel_format(shapes, fmt):
    detector = CutDetector(10.0)
    for frame, t in decoded(shapes, fmt):
        detector.feed(frame, t)
    assert detector.cuts() == [1.5, 2.7]


def test_sampled_planes_are_the_picture_scaled_down(shapes):
    for frame, _ in decoded(shapes)[::7]:
        sampled = FrameSampler()(frame)
        scaled = frame.to_ndarray(format="rgb24", width=sampled.shape[2], height=sampled.shape[1], interpolation="AREA")
        assert np.abs(sampled - scaled.transpose(2, 0, 1).astype(np.float32)).mean() < 6  # 0-255: the same picture


def test_the_default_detector_needs_no_opencv(shapes, tmp_path):
    code = f"""
import json, sys
from framesearch.ingest.cuts import cut_detector
from framesearch.ingest.video import sample_frames
detector = cut_detector(10.0)
list(sample_frames({str(shapes)!r}, 2, 32, on_frame=detector.feed))
print(json.dumps([detector.cuts(), sorted(m for m in sys.modules if m.split(".")[0] in ("cv2", "scenedetect"))]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == [[1.5, 2.7], []]


def test_asking_for_pyscenedetect_without_the_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scenedetect", None)  # as if not installed
    monkeypatch.setenv("FRAMESEARCH_CUT_DETECTOR", "scenedetect")
    with pytest.raises(MissingDependency, match=r"framesearch\[scenedetect\]"):
        cut_detector(25.0)
    monkeypatch.setenv("FRAMESEARCH_CUT_DETECTOR", "frames")
    assert isinstance(cut_detector(25.0), CutDetector)
    with pytest.raises(InvalidInput, match="'frames' or 'scenedetect'"):
        cut_detector(25.0, "opencv")


def test_both_detectors_find_the_same_cuts(shapes):
    pytest.importorskip("scenedetect")
    found = []
    for detector in (CutDetector(10.0), SceneDetectCuts(10.0)):
        for frame, t in decoded(shapes):
            detector.feed(frame, t)
        found.append(detector.cuts())
    assert found == [[1.5, 2.7], [1.5, 2.7]]


def _sd():
    return pytest.importorskip("scenedetect")


@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))))
@settings(max_examples=200, deadline=None)
def test_median_from_the_histogram_is_numpys(values):
    assert median_u8(values) == np.median(values)


def small_frames(path, limit=None, width=192):
    container = av.open(str(path))
    try:
        frames = []
        for frame in container.decode(container.streams.video[0]):
            height = max(2, round(width * frame.height / frame.width / 2) * 2)
            frames.append(frame.to_ndarray(format="bgr24", width=width, height=height))
            if limit and len(frames) == limit:
                break
        return frames
    finally:
        container.close()


def scores_and_cuts(detector, frames, rate):
    sd = _sd()
    scores, found = [], []
    for i, pixels in enumerate(frames):
        found += detector.process_frame(sd.FrameTimecode(i, rate), pixels)
        scores.append(detector._frame_score)
    found += detector.post_process(sd.FrameTimecode(len(frames) - 1, rate))
    return scores, [int(c.frame_num) for c in found]


def same_as_pyscenedetect(frames, rate):
    sd = _sd()
    weights = sd.ContentDetector.Components(delta_hue=1.0, delta_sat=1.0, delta_lum=1.0, delta_edges=1.0)
    options = {"weights": weights, "min_content_val": 8.0, "min_scene_len": 4}
    ours = scores_and_cuts(adaptive_detector_class()(**options), frames, rate)
    theirs = scores_and_cuts(sd.AdaptiveDetector(**options), frames, rate)
    assert ours == theirs  # every frame's score to the last bit, and the cuts
    return ours


def test_frame_scores_are_pyscenedetects_own(tmp_path):
    scenes = [("square", "white", "black", 1.0), ("circle", "red", "white", 1.0), ("triangle", "green", "black", 1.0)]
    video = write_shapes_video(tmp_path / "shapes.mp4", scenes, fps=10)
    _, found = same_as_pyscenedetect(small_frames(video), 10.0)
    assert found == [10, 20]


@pytest.mark.slow
@needs_media
@pytest.mark.parametrize("name", ["big_buck_bunny_0_30.webm", "scenedetect-testvideo.mp4", "bikes.mp4"])
def test_frame_scores_are_pyscenedetects_own_on_real_videos(name):
    path = MEDIA / "videos" / name
    _, found = same_as_pyscenedetect(small_frames(path, limit=400), VideoInfo.from_video_path(path).fps)
    assert found  # each of these has cuts in its first 400 frames


def test_the_detector_thread_finds_what_the_detector_finds(shapes):
    video = shapes
    inline = CutDetector(10.0)
    list(sample_frames(video, 2, 32, on_frame=inline.feed))
    with BackgroundCuts(CutDetector(10.0), depth=2) as background:
        list(sample_frames(video, 2, 32, on_frame=background.feed))
        found = background.cuts()
    assert found == inline.cuts() == [1.5, 2.7]


class Broken(CutDetector):
    def feed(self, frame, timestamp):
        raise ValueError(f"cannot score the frame at {timestamp}")


def test_a_detector_error_reaches_the_caller_and_never_blocks_the_decoder():
    background = BackgroundCuts(Broken(10.0), depth=1)
    for i in range(20):  # far more than the queue holds: the thread keeps taking frames after the error
        background.feed(None, i / 10)
    with pytest.raises(ValueError, match="at 0.0"):
        background.cuts()
    assert not any(t.name == "framesearch-cuts" and t.is_alive() for t in threading.enumerate())


def test_prefetch_reads_ahead_at_once_and_stops_when_closed():
    started = threading.Event()

    def endless():
        i = 0
        while True:
            started.set()
            yield i
            i += 1

    reader = Prefetch(endless(), depth=4)
    assert started.wait(5)  # reading began before anyone asked for an item
    first = next(iter(reader))
    reader.close()
    assert first == 0 and not reader._thread.is_alive()
