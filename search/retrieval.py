"""Segment retrieval: the frames of the best-matching moments, each moment whole, never cut by a frame limit.

A moment is a run of one video's stored frames above the threshold whose gaps are at most GAP_FACTOR (1.5)
sampling intervals, or up to BRIDGE_FACTOR (3.5) where the index holds no frame inside the gap: up to MAX_MISSING
(2) sampled frames that are null in the results, failed or undecodable do not split a moment; a stored frame that
does not match does.

Asking the ANN index for "enough" frames cannot work: one long scene (thousands of matching frames) fills any
frame limit, comes back as scattered fragments, and crowds every other video out. So (`retrieve_runs`):

1. seeds: the ANN top-K frames (K = 4 x limit, at least 64) above the threshold, as (video id, score) pairs
   (`store.search_videos`: nothing else of a seed is needed, so nothing else is read or sent);
2. every video with a seed is scored whole, in numpy, from its frame table (search/frame_tables.py: its frames in
   time order with their vectors, read from the store once and kept): its runs above the threshold are exact,
   whatever their length, with no further store call;
3. while fewer than `limit` runs are known to rank above every run not found (their best frame is above the
   lowest seed, the bound), search again without the videos scored (all their runs are known) and with twice the
   K, so moments of other videos come next (one keyword condition: excluding each run's time range instead cost
   5-50 ms a search).

A moment not found has its best frame at or below the last seed search's K-th score (the bound). Runs found
whose best frame is below the bound are left out, so the best `limit` runs returned are the best `limit` overall
(as far as the ANN index finds the seeds), and the answer at limit N is the first N of the answer at any larger
limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from framesearch.search.frame_tables import DEFAULT_CACHE_MB, TABLES, FrameTable, FrameTables
from framesearch.search.models import Segment
from framesearch.search.segments import BRIDGE_FACTOR, GAP_FACTOR, SCORE_DIGITS, Confidence, segment_of_columns
from framesearch.store.api import VectorStore
from framesearch.store.filters import SearchFilter

Seed = tuple[str, float]  # a seed frame's video id and score

SEED_FACTOR = 4
MIN_SEEDS = 64
MAX_ROUNDS = 8
SEED_GROWTH = 2  # each round's seed search asks for twice the frames of the one before
MAX_FRAMES = 50_000  # frames gathered in all (a near-zero threshold makes whole videos match)
EPSILON = 1e-4


@dataclass(slots=True)
class Run:
    """Consecutive matching frames of one video: their rows in its frame table (time order), their scores, the
    best of them, and the first and last frame's times."""

    video_id: str
    table: FrameTable
    rows: np.ndarray
    scores: np.ndarray
    best: float
    start: float
    end: float

    @property
    def size(self) -> int:
        return len(self.rows)

    def segment(self, confidence: Confidence | None = None, listed: bool = True) -> Segment:
        """The moment as a segment, its frames listed (straight from the table's columns: no hit objects); with
        `listed` False its summary only (a live stream's moments always list theirs: they carry when they aired)."""
        rows = self.rows.tolist()
        walls = self.table.walls
        if not listed and walls is None:
            times = self.table.timestamps[self.rows].tolist()
            peak = int(np.argmax(self.scores))
            segment = Segment(
                video_id=self.video_id,
                start=times[0],
                end=times[-1],
                score=round(float(self.scores[peak]), SCORE_DIGITS),
                peak_time=times[peak],
                peak_frame=int(self.table.numbers[self.rows[peak]]),
                frame_count=len(rows),
            )
            segment._times = times
            return segment
        return segment_of_columns(
            self.video_id,
            self.table.numbers[self.rows].tolist(),
            self.table.timestamps[self.rows].tolist(),
            self.scores.astype(np.float64).tolist(),
            [walls[i] for i in rows] if walls is not None else [None] * len(rows),
            confidence,
        )


def seed_count(limit: int) -> int:
    """How many frames the seed search of a segment search asks for (K)."""
    return max(limit * SEED_FACTOR, MIN_SEEDS)


def retrieve_runs(
    store: VectorStore,
    vector: np.ndarray,
    flt: SearchFilter,
    limit: int,
    threshold: float,
    first: Sequence[Seed] | None = None,
    cache_mb: float = DEFAULT_CACHE_MB,
    tables: FrameTables = TABLES,
) -> list[Run]:
    """The runs of the best `limit` moments, best first (by their best frame).
    `first`: the top `seed_count(limit)` seeds for `flt` with no threshold, when the caller has searched already;
    `cache_mb`: the budget of the frame tables kept (setting `search_cache_mb`)."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    query = query / max(float(np.linalg.norm(query)), 1e-12)
    seeds = seed_count(limit)
    if first is not None:
        hits = [h for h in first if h[1] >= threshold]
    else:
        hits = store.search_videos(vector, flt, limit=seeds, threshold=threshold)
    runs: list[Run] = []
    scored: set[str] = set()
    bound = -np.inf  # every moment not found has its best frame at or below this score
    for step in range(MAX_ROUNDS):
        full = len(hits) >= seeds
        bound = min(score for _, score in hits) if full else -np.inf
        for video_id in dict.fromkeys(video_id for video_id, _ in hits):
            if video_id not in scored:  # a video is scored whole once: every run of it is known
                scored.add(video_id)
                runs += video_runs(tables.get(store, video_id, cache_mb), video_id, query, flt, threshold)
        gathered = sum(r.size for r in runs)
        if not full or _certain(runs, bound) >= limit or step + 1 == MAX_ROUNDS or gathered >= MAX_FRAMES:
            break
        seeds *= SEED_GROWTH
        skip = replace(flt, skip_videos=flt.skip_videos + tuple(sorted(scored - set(flt.skip_videos))))
        hits = store.search_videos(vector, skip, limit=seeds, threshold=threshold)
    # a run whose best frame is below the bound may rank below a run not found: it is left out, so the answer at a
    # limit is the start of the answer at any larger limit
    runs = sorted((r for r in runs if r.best >= bound), key=_rank)
    return runs[:limit]


def _rank(run: Run) -> tuple[float, str, float]:
    return (-run.best, run.video_id, run.start)


def _certain(runs: list[Run], bound: float) -> int:
    """How many runs surely rank above every run not found yet (their best frame is above the seeds' lowest)."""
    return sum(r.best > bound for r in runs)


def video_runs(table: FrameTable, video_id: str, query: np.ndarray, flt: SearchFilter, threshold: float) -> list[Run]:
    """Every run of one video's frames (inside the filter's time range, outside its excluded ranges) above the
    threshold: consecutive matching frames, split where a gap exceeds BRIDGE_FACTOR sampling intervals, or
    GAP_FACTOR intervals with a stored frame that does not match inside it."""
    times = table.timestamps
    lo = int(np.searchsorted(times, flt.t_min - EPSILON, "left")) if flt.t_min is not None else 0
    hi = int(np.searchsorted(times, flt.t_max + EPSILON, "right")) if flt.t_max is not None else len(times)
    if hi <= lo:
        return []
    scores = table.vectors[lo:hi] @ query
    match = scores >= threshold
    for excluded, start, end in flt.exclude:
        if excluded == video_id:
            match &= ~((times[lo:hi] >= start - EPSILON) & (times[lo:hi] <= end + EPSILON))
    where = np.flatnonzero(match)
    if not where.size:
        return []
    interval = table.interval
    gaps = np.diff(times[lo:hi][where])
    skipped = np.diff(where) > 1  # a stored frame that does not match lies between
    wide = gaps > (BRIDGE_FACTOR * interval if interval else 0.0) + EPSILON
    if interval:
        wide |= skipped & (gaps > GAP_FACTOR * interval + EPSILON)
    cuts = np.flatnonzero(wide) + 1
    starts = np.concatenate(([0], cuts)).astype(np.intp)
    stops = np.append(cuts, len(where)).astype(np.intp)
    rows, matched = where + lo, scores[where]
    bests = np.maximum.reduceat(matched, starts).tolist()
    firsts, lasts = times[rows[starts]].tolist(), times[rows[stops - 1]].tolist()
    return [
        Run(video_id, table, rows[a:b], matched[a:b], best, first, last)
        for a, b, best, first, last in zip(starts.tolist(), stops.tolist(), bests, firsts, lasts, strict=True)
    ]
