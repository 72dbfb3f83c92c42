"""Moments with exact edges: a segment's start and end snap to the shot cuts around it, else half a sampling
interval beyond its first and last matching frames (never beyond the video), so `end` is always after `start`.

Cuts come from the video's record (detected at ingest, ingest/cuts.py: hard cuts, and the middle of each
dissolve or fade). A shot shorter than one sampling interval (a sliver) is no shot: its boundaries merge
(`shot_starts`), so no moment is snapped to a sliver. An edge snaps to its shot's cut when
the segment's outer frame is that shot's first (or last) sampled frame: nothing sampled between the cut and the
moment failed to match, so the moment fills the shot up to the cut. Videos without cuts (Roboflow results
imported without the video, or indexed before cut detection) get the half-interval rule.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence

from framesearch.search.frame_tables import TABLES
from framesearch.search.models import Segment
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord
from framesearch.validation import DEFAULT_FPS

EPS = 1e-3


def sampling_interval(record: VideoRecord | None, times: Sequence[float]) -> float:
    """Seconds between sampled frames: the recorded sampling rate, else the smallest gap, else the default rate's."""
    if record is not None and record.fps:
        return 1.0 / record.fps
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b - a > EPS]
    return min(gaps) if gaps else 1.0 / DEFAULT_FPS


def shot_starts(cuts: Sequence[float], video_end: float, interval: float) -> list[float]:
    """0 and the cuts, without slivers: no shot is shorter than one sampling interval. Two boundaries closer than
    that (a transition detected at both ends, a flash) become one between them; a cut that close to the video's
    start or end goes."""
    return list(_shot_starts(tuple(cuts), video_end, interval))


@functools.lru_cache(maxsize=1024)
def _shot_starts(cuts: tuple[float, ...], video_end: float, interval: float) -> tuple[float, ...]:
    """`shot_starts`, kept: the moments of one video in an answer (and its next searches) share its shots."""
    starts = [0.0]
    for cut in sorted(c for c in cuts if 0 < c < video_end):
        if cut - starts[-1] >= interval - EPS:
            starts.append(cut)
        elif len(starts) > 1:
            starts[-1] = round((starts[-1] + cut) / 2, 4)
    if len(starts) > 1 and video_end - starts[-1] < interval - EPS:
        starts.pop()
    return tuple(starts)


def moment_edges(
    first: float, last: float, interval: float, cuts: Sequence[float] | None, duration: float | None
) -> tuple[float, float]:
    """Start and end of a moment whose first and last matching sampled frames are at `first` and `last`."""
    half = interval / 2
    video_end = duration if duration is not None and duration > last + EPS else last + half
    start, end = max(first - half, 0.0), min(last + half, video_end)
    if cuts is not None:
        starts = _shot_starts(tuple(cuts), video_end, interval)
        shot_start = starts[bisect.bisect_right(starts, first + EPS) - 1]
        ends = [*starts[1:], video_end]
        shot_end = ends[bisect.bisect_right(starts, last + EPS) - 1]
        start = shot_start if first - shot_start < interval - EPS else max(start, shot_start)
        end = shot_end if shot_end - last <= interval + EPS else min(end, shot_end)
        if end - start < interval - EPS:  # never a sliver: a moment spans at least the interval its frames stand for
            start = max(shot_start, min(start, end - interval))
            end = min(shot_end, max(end, start + interval))
    if end <= start:
        end = start + max(half, EPS)
    return round(start, 4), round(end, 4)


def video_records(store: VectorStore, video_ids: set[str]) -> dict[str, VideoRecord | None]:
    """The records of the given videos (None for one without a record), kept per library state."""
    return TABLES.records(store, video_ids)


def snap_edges(store: VectorStore, segments: Sequence[Segment]) -> list[Segment]:
    """The segments with their edges on shot cuts or half an interval out (see the module's doc)."""
    records = video_records(store, {s.video_id for s in segments})
    out = []
    for segment in segments:
        record = records[segment.video_id]
        times = [f.timestamp for f in segment.frames or []] or segment._times or [segment.start, segment.end]
        interval = sampling_interval(record, times)
        cuts = record.cuts if record is not None else None
        duration = record.duration if record is not None else None
        start, end = moment_edges(times[0], times[-1], interval, cuts, duration)
        out.append(segment.model_copy(update={"start": start, "end": end}))
    return out
