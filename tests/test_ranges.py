"""Videos cut into ranges at keyframes decode to exactly the frames one pass keeps (numbers, times, pixels)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from framesearch.ingest.ranges import WHOLE, plan_ranges, sample_range
from framesearch.ingest.video import sample_frames
from tests.conftest import MEDIA, needs_media
from tests.helpers.keyframes import with_keyframes
from tests.helpers.synthetic_video import write_shapes_video

SCENES = [("square", "white", "black", 2.5), ("circle", "red", "white", 2.0), ("triangle", "green", "black", 2.5)]


@pytest.fixture(scope="module")
def keyframed_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s at 10 fps with B-frames and a keyframe every 10 frames: cuttable about every second."""
    folder = tmp_path_factory.mktemp("ranges")
    return with_keyframes(write_shapes_video(folder / "plain.mp4", SCENES), folder / "shapes.mp4")


def split_decode(path: Path, fps: float, seconds: float, size: int | None = 48):
    """The frames of every range in order, redoing in one pass what follows a range that missed its plan."""
    frames, one_pass, missed = [], False, 0
    for rng in plan_ranges(path, fps, seconds):
        got, exact = sample_range(path, fps, size, rng, one_pass)
        frames += got
        one_pass = one_pass or not exact
        missed += not exact
    return frames, missed


def assert_same_frames(one, split) -> None:
    assert [(f.index, f.timestamp) for f in split] == [(f.index, f.timestamp) for f in one]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(one, split, strict=True))


@pytest.mark.parametrize("fps", [1.0, 3.0, 7.0, 10.0])
def test_ranges_yield_exactly_the_frames_of_one_pass(keyframed_video, fps):
    """B-frames and 10 fps sampled at rates that do and do not divide it."""
    ranges = plan_ranges(keyframed_video, fps, 1.0)
    assert len(ranges) >= 5 and ranges[0].start_pts is None and ranges[-1].end_pts is None
    assert [r.first_index for r in ranges[1:]] == [r.end_index for r in ranges[:-1]]  # contiguous, no gap, no overlap
    one = list(sample_frames(keyframed_video, fps, 48))
    split, missed = split_decode(keyframed_video, fps, 1.0)
    assert missed == 0
    assert_same_frames(one, split)


def test_a_video_shorter_than_a_range_is_not_cut(keyframed_video):
    assert plan_ranges(keyframed_video, 3.0, 60.0) == [WHOLE]


def test_a_range_that_misses_its_plan_falls_back_to_one_pass(keyframed_video):
    ranges = plan_ranges(keyframed_video, 3.0, 1.0)
    wrong = replace(ranges[2], first_index=ranges[2].first_index + 1)  # as if the demuxer counted a hidden frame
    frames, exact = sample_range(keyframed_video, 3.0, 48, wrong)
    assert not exact
    one = [f for f in sample_frames(keyframed_video, 3.0, 48) if wrong.first_index <= f.index < wrong.end_index]
    assert_same_frames(one, frames)


@pytest.mark.slow
@needs_media
@pytest.mark.parametrize("name", sorted(p.name for p in (MEDIA / "videos").glob("*")) if (MEDIA / "videos").is_dir() else [])
def test_real_media_cut_into_two_second_ranges_decodes_like_one_pass(name):
    path = MEDIA / "videos" / name
    one = list(sample_frames(path, 2.0, 32))
    split, _ = split_decode(path, 2.0, 2.0, size=32)
    assert_same_frames(one, split)
