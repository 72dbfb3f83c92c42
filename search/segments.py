"""Group frame hits into time segments: adjacent hits of one video merge into one moment."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

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
    peak = max(run, key=lambda h: h.score)
    frames = []
    for h in run:  # one per listed frame (hundreds per answer): dicts, validated in one pass with the segment
        score = round(h.score, SCORE_DIGITS)
        frames.append(
            {
                "frame": h.frame,
                "timestamp": h.timestamp,
                "score": score,
                "confidence": round(confidence(score), 4) if confidence else None,
                "wall_time": h.wall_time,
            }
        )
    return Segment(
        video_id=video_id,
        start=run[0].timestamp,
        end=run[-1].timestamp,
        score=round(peak.score, SCORE_DIGITS),
        peak_time=peak.timestamp,
        peak_frame=peak.frame,
        frame_count=len(run),
        frames=frames,
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
            aired = next((f for f in result.frames if f.wall_time is not None), None)
            if aired is not None and aired.wall_time is not None:
                offset = aired.wall_time - aired.timestamp
                result.start_utc, result.end_utc = utc_text(result.start + offset), utc_text(result.end + offset)
        elif isinstance(result, FrameMatch) and result.wall_time is not None:
            result.utc = utc_text(result.wall_time)
