"""Grouping frame hits into time segments."""

from __future__ import annotations

from framesearch.search.segments import group_segments
from framesearch.store.schema import FrameHit


def hit(t: float, score: float = 0.5, video: str = "v", fps: float | None = 2.0) -> FrameHit:
    return FrameHit(video, int(t * 24), t, score, fps)


def test_adjacent_hits_merge_and_a_gap_splits():
    segments = group_segments([hit(1.0), hit(1.5, 0.9), hit(2.0), hit(4.0, 0.6)])
    assert [(s.start, s.end) for s in segments] == [(1.0, 2.0), (4.0, 4.0)]
    assert segments[0].score == 0.9 and segments[0].peak_time == 1.5 and len(segments[0].frames) == 3


def test_gap_of_one_and_a_half_intervals_still_merges_but_two_does_not():
    merged = group_segments([hit(0.0), hit(0.75)])
    assert len(merged) == 1
    split = group_segments([hit(0.0), hit(1.0)])
    assert len(split) == 2


def test_one_missing_sample_does_not_merge_at_gap_factor_one_and_a_half():
    assert len(group_segments([hit(0.0), hit(0.5), hit(1.5)])) == 2


def test_hits_of_different_videos_never_merge_and_rank_by_best_score():
    segments = group_segments([hit(1.0, 0.3, "a"), hit(1.0, 0.8, "b"), hit(1.5, 0.4, "a")])
    assert [(s.video_id, s.score) for s in segments] == [("b", 0.8), ("a", 0.4)]


def test_unsorted_input_and_a_single_hit():
    segments = group_segments([hit(2.0), hit(1.0), hit(1.5)])
    assert [(s.start, s.end) for s in segments] == [(1.0, 2.0)]
    single = group_segments([hit(3.0, fps=None)])
    assert (single[0].start, single[0].end, single[0].peak_time) == (3.0, 3.0, 3.0)


def test_interval_is_inferred_from_hits_when_fps_is_unknown():
    segments = group_segments([hit(0.0, fps=None), hit(0.5, fps=None), hit(1.0, fps=None), hit(3.0, fps=None)])
    assert [(s.start, s.end) for s in segments] == [(0.0, 1.0), (3.0, 3.0)]


def test_empty_input():
    assert group_segments([]) == []


def test_segments_have_the_documented_keys():
    data = group_segments([hit(1.0, 0.7), hit(1.5, 0.8)])[0].model_dump()
    assert {"video_id", "start", "end", "score", "peak_time", "frames"} <= set(data)
    assert data["frame_count"] == 2 and [f["timestamp"] for f in data["frames"]] == [1.0, 1.5]
