"""Group frame hits into time segments: adjacent hits of one video merge into one moment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from framesearch.store.schema import FrameHit

GAP_FACTOR = 1.5


@dataclass
class Segment:
    """A time range of one video where the query matches; `score` is its best frame's."""

    video_id: str
    start: float
    end: float
    score: float
    peak_time: float
    peak_frame: int
    frames: list[FrameHit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "video_id": self.video_id,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "peak_time": self.peak_time,
            "peak_frame": self.peak_frame,
            "frame_count": len(self.frames),
            "frames": [{"frame": h.frame, "timestamp": h.timestamp, "score": round(h.score, 6)} for h in self.frames],
        }


def sampling_interval(hits: list[FrameHit]) -> float | None:
    """Seconds between sampled frames: from the stored fps, else the smallest gap between hits."""
    rates = [h.fps for h in hits if h.fps]
    if rates:
        return 1.0 / float(np.median(rates))
    gaps = np.diff(sorted({h.timestamp for h in hits}))
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else None


def _split(hits: list[FrameHit], max_gap: float) -> list[list[FrameHit]]:
    runs: list[list[FrameHit]] = [[hits[0]]]
    for hit in hits[1:]:
        if hit.timestamp - runs[-1][-1].timestamp <= max_gap + 1e-6:
            runs[-1].append(hit)
        else:
            runs.append([hit])
    return runs


def group_segments(hits: Iterable[FrameHit], gap_factor: float = GAP_FACTOR) -> list[Segment]:
    """Merge each video's hits whose gap is at most `gap_factor` sampling intervals; rank by best score."""
    by_video: dict[str, list[FrameHit]] = defaultdict(list)
    for hit in hits:
        by_video[hit.video_id].append(hit)
    segments: list[Segment] = []
    for video_id, video_hits in by_video.items():
        video_hits.sort(key=lambda h: h.timestamp)
        interval = sampling_interval(video_hits)
        max_gap = gap_factor * interval if interval else 0.0
        for run in _split(video_hits, max_gap):
            peak = max(run, key=lambda h: h.score)
            segments.append(
                Segment(video_id, run[0].timestamp, run[-1].timestamp, peak.score, peak.timestamp, peak.frame, run)
            )
    segments.sort(key=lambda s: (-s.score, s.video_id, s.start))
    return segments
