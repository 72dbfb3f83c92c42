"""Group frame hits into time segments: adjacent hits of one video merge into one moment."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from framesearch.search.models import FrameMatch, Segment
from framesearch.store.schema import FrameHit

GAP_FACTOR = 1.5  # neighbouring sampled frames are one interval apart; half an interval more for uneven sampling
MAX_MISSING = 2  # sampled frames that may be missing from the index inside one moment (null, failed, undecodable)
BRIDGE_FACTOR = GAP_FACTOR + MAX_MISSING  # the widest gap a moment spans, when nothing is stored inside it
Confidence = Callable[[float], float]
SCORE_DIGITS = 6


def sampling_interval(hits: list[FrameHit]) -> float | None:
    """Seconds between sampled frames: from the stored fps, else the smallest gap between hits."""
    rates = [h.fps for h in hits if h.fps]
    if rates:
        return 1.0 / statistics.median(rates)  # not np.median: it imports numpy.ma, 5 ms of every CLI search
    gaps = np.diff(sorted({h.timestamp for h in hits}))
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else None


def _segment(video_id: str, run: list[FrameHit], confidence: Confidence | None = None) -> Segment:
    return segment_of_columns(
        video_id,
        [h.frame for h in run],
        [h.timestamp for h in run],
        [h.score for h in run],
        [h.wall_time for h in run],
        confidence,
    )


def segment_of_columns(
    video_id: str,
    frames: list[int],
    times: list[float],
    scores: list[float],
    walls: list[float | None],
    confidence: Confidence | None = None,
) -> Segment:
    """A segment of one video's run of frames given as columns (time order, at least one frame)."""
    peak = max(range(len(scores)), key=scores.__getitem__)
    rounded = [round(s, SCORE_DIGITS) for s in scores]
    confidences = [round(confidence(s), 4) for s in rounded] if confidence else [None] * len(rounded)
    # one dict per listed frame (hundreds per answer), validated in one pass with the segment
    listed: list[Any] = [
        {"frame": f, "timestamp": t, "score": s, "confidence": c, "wall_time": w}
        for f, t, s, c, w in zip(frames, times, rounded, confidences, walls, strict=True)
    ]
    return Segment(
        video_id=video_id,
        start=times[0],
        end=times[-1],
        score=rounded[peak],
        peak_time=times[peak],
        peak_frame=frames[peak],
        frame_count=len(frames),
        frames=listed,
    )


def segments_of(runs: Iterable[list[FrameHit]], confidence: Confidence | None = None) -> list[Segment]:
    """Segments of runs already grouped (one video each, time order), in the order given; `confidence` turns a
    frame's score into its calibrated confidence, when known."""
    return [_segment(run[0].video_id, run, confidence) for run in runs if run]


def utc_text(seconds: float) -> str:
    """Unix seconds as an ISO 8601 UTC time (milliseconds)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp_wall_clock(results: Iterable[object]) -> None:
    """Give each result of a live stream its wall-clock times: a stream's frames know when they aired, and its
    stream time runs with the wall clock, so a moment's start and end are offset by the same amount."""
    for result in results:
        if isinstance(result, Segment):
            aired = next((f for f in result.frames or () if f.wall_time is not None), None)
            if aired is not None and aired.wall_time is not None:
                offset = aired.wall_time - aired.timestamp
                result.start_utc, result.end_utc = utc_text(result.start + offset), utc_text(result.end + offset)
        elif isinstance(result, FrameMatch) and result.wall_time is not None:
            result.utc = utc_text(result.wall_time)
