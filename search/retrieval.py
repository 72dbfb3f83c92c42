"""Segment retrieval: the frames of the best-matching moments, each moment whole, never cut by a frame limit.

A moment is a run of one video's frames above the threshold whose gaps are at most GAP_FACTOR (1.5) sampling
intervals, or up to BRIDGE_FACTOR (3.5) where the index holds no frame inside the gap: up to MAX_MISSING (2)
sampled frames that are null in the results, failed or undecodable do not split a moment; a stored frame that
does not match does. Runs are gathered with the wider gap and cut at stored frames at the end (one batched
search).

Asking the ANN index for "enough" frames cannot work: one long scene (thousands of matching frames) fills any
frame limit, comes back as scattered fragments, and crowds every other video out. So:

1. seeds: the ANN top-K frames (K = 2 x limit, at least 32) above the threshold, grouped into runs;
2. when K came back (there may be more), every frame above the threshold is fetched in the span of each
   cluster of seeds plus a window on each side (filtered searches on one video and a time range, so the
   store scores just those frames; one batched call), and runs reaching a span's end grow by windows that
   double while the run goes on (again one batched call per step); runs that meet merge;
3. while fewer than `limit` runs are known to rank above every run not found (their best frame is above the
   lowest seed, the bound), search again with the known runs' time ranges excluded and twice the K, so other
   moments (of other videos, or later in the same one) come next. When that
   next search will likely be needed, it is sent with step 2's batch, leaving out the spans searched whole
   (which hold no frame above the threshold outside the runs); its hits that fell in runs grown past their
   spans are dropped, or, if it was cut by K, it is sent again after the growth, as before.

A segment not found has its best frame at or below the last seed search's K-th score (the bound). Runs found
in a span whose best frame is below the bound are left out, so the best `limit` runs returned are the best
`limit` overall (as far as the ANN index finds the seeds), and the answer at limit N is the first N of the
answer at any larger limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from framesearch.search.segments import BRIDGE_FACTOR, GAP_FACTOR, sampling_interval
from framesearch.store.base import SearchFilter, VectorStore
from framesearch.store.schema import FrameHit

SEED_FACTOR = 2
MIN_SEEDS = 32
FIRST_WINDOW = 64  # frames examined past a run's edge in its first step; doubles while the run goes on
MAX_ROUNDS = 8
SEED_GROWTH = 2  # each round's seed search asks for twice the frames of the one before
MAX_FRAMES = 50_000  # frames gathered in all (a near-zero threshold makes whole videos match)
EPSILON = 1e-4


@dataclass
class Run:
    """Consecutive matching frames of one video (time order); which edges may still go on; the window size."""

    video_id: str
    hits: list[FrameHit]
    interval: float | None
    grow_left: bool = True
    grow_right: bool = True
    window: dict[str, int] = field(default_factory=lambda: {"left": FIRST_WINDOW, "right": FIRST_WINDOW})

    @property
    def start(self) -> float:
        return self.hits[0].timestamp

    @property
    def end(self) -> float:
        return self.hits[-1].timestamp

    @property
    def best(self) -> float:
        return max(h.score for h in self.hits)

    @property
    def max_gap(self) -> float:
        return BRIDGE_FACTOR * self.interval if self.interval else 0.0


def seed_count(limit: int) -> int:
    """How many frames the seed search of a segment search asks for (K)."""
    return max(limit * SEED_FACTOR, MIN_SEEDS)


def retrieve_segments(
    store: VectorStore,
    vector: np.ndarray,
    flt: SearchFilter,
    limit: int,
    threshold: float,
    first: Sequence[FrameHit] | None = None,
) -> list[list[FrameHit]]:
    """The frame hits of the best `limit` moments, best first (by their best frame), each in time order.
    `first`: the top `seed_count(limit)` frames for `flt` with no threshold, when the caller has searched already."""
    seeds = seed_count(limit)
    runs: list[Run] = []
    if first is not None:
        hits = [h for h in first if h.score >= threshold]
    else:
        hits = store.search(vector, flt, limit=seeds, threshold=threshold)
    bound = -np.inf  # every moment not found has its best frame at or below this score
    for step in range(MAX_ROUNDS):
        if len(hits) < seeds:  # every frame above the threshold outside the known runs: the search is complete
            runs, bound = _merge(runs + _runs(hits, complete=True)), -np.inf
            break
        bound = min(h.score for h in hits)
        spans = _spans(hits, flt)
        following_seeds = seeds * SEED_GROWTH
        ahead = None  # the next round's seed search, sent with this round's span searches when it will likely be needed
        if step + 1 < MAX_ROUNDS and _certain(runs, bound) + len(spans) < limit and all(c.interval for c, _, _ in spans):
            ahead = _excluding(flt, [(r.video_id, r.start, r.end) for r in runs] + [(c.video_id, lo, hi) for c, lo, hi in spans])
        found, following = _complete(store, vector, flt, threshold, spans, ahead, following_seeds)
        runs = _merge(runs + found)
        if _certain(runs, bound) >= limit or step + 1 == MAX_ROUNDS:
            break
        seeds = following_seeds
        hits = _outside(following, runs, seeds)
        if hits is None:
            hits = store.search(
                vector, _excluding(flt, [(r.video_id, r.start, r.end) for r in runs]), limit=seeds, threshold=threshold
            )
    # a run found on the way (in a span around seeds) whose best frame is below the bound may rank below a run not
    # found: it is left out, so the answer at a limit is the start of the answer at any larger limit
    runs = sorted((r for r in runs if r.best >= bound), key=_rank)[:limit]
    runs = sorted(split_at_stored_frames(store, vector, runs), key=_rank)
    return [r.hits for r in runs[:limit]]


def _rank(run: Run) -> tuple[float, str, float]:
    return (-run.best, run.video_id, run.start)


def _certain(runs: list[Run], bound: float) -> int:
    """How many runs surely rank above every run not found yet (their best frame is above the seeds' lowest)."""
    return sum(r.best > bound for r in runs)


def split_at_stored_frames(store: VectorStore, vector: np.ndarray, runs: list[Run]) -> list[Run]:
    """Runs cut where a gap wider than GAP_FACTOR sampling intervals holds a stored frame (one that did not match):
    only a gap with nothing stored (null, missing or undecodable frames) is bridged. One batched search."""
    gaps = [
        (run, i)
        for run in runs
        for i in range(1, len(run.hits))
        if run.interval and run.hits[i].timestamp - run.hits[i - 1].timestamp > GAP_FACTOR * run.interval + EPSILON
    ]
    if not gaps:
        return runs
    requests = [
        (SearchFilter((run.video_id,), run.hits[i - 1].timestamp + EPSILON, run.hits[i].timestamp - EPSILON), 1)
        for run, i in gaps
    ]
    cuts: dict[int, list[int]] = {}
    for (run, i), found in zip(gaps, store.search_batch(vector, requests, None), strict=True):
        if found:
            cuts.setdefault(id(run), []).append(i)
    out: list[Run] = []
    for run in runs:
        edges = [0, *cuts.get(id(run), []), len(run.hits)]
        out += [replace(run, hits=run.hits[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    return out


def _excluding(flt: SearchFilter, ranges: list[tuple[str, float, float]]) -> SearchFilter:
    return replace(flt, exclude=flt.exclude + tuple(ranges))


def _outside(following: list[FrameHit] | None, runs: list[Run], seeds: int) -> list[FrameHit] | None:
    """The next round's seeds from the search sent ahead (which left out the known runs and the spans searched
    whole): its hits outside the runs as they are now, which is what a search leaving out the runs finds, unless
    it was cut by K with some of its hits inside runs (runs grew past their spans): then None, search again."""
    if following is None:
        return None
    ranges: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        ranges.setdefault(run.video_id, []).append((run.start, run.end))
    outside = [h for h in following if not any(lo <= h.timestamp <= hi for lo, hi in ranges.get(h.video_id, ()))]
    return None if len(following) >= seeds and len(outside) < len(following) else outside


def _spans(seeds: list[FrameHit], flt: SearchFilter) -> list[tuple[Run, float, float]]:
    """Each cluster of seeds with the time range to search around it (plus a window on each side)."""
    spans: list[tuple[Run, float, float]] = []
    for cluster in _runs(seeds, complete=False, gap=FIRST_WINDOW):
        if not cluster.interval:
            spans.append((cluster, cluster.start, cluster.end))
            continue
        reach = FIRST_WINDOW * cluster.interval
        low = max(cluster.start - reach, 0.0, flt.t_min if flt.t_min is not None else 0.0)
        high = min(cluster.end + reach, flt.t_max) if flt.t_max is not None else cluster.end + reach
        spans.append((cluster, low, high))
    return spans


def _complete(
    store: VectorStore,
    vector: np.ndarray,
    flt: SearchFilter,
    threshold: float,
    spans: list[tuple[Run, float, float]],
    ahead: SearchFilter | None,
    seeds: int,
) -> tuple[list[Run], list[FrameHit] | None]:
    """Whole runs around seeds that were cut by the seed limit: every frame above the threshold in each span, in
    one batched search (with the next round's seed search `ahead`, if given); then grow runs that reach a span's
    end. A span's search filters on one video and a time range, so the store scores just those frames. Returns
    the runs and the answer of the search ahead (None when a span was not searched whole: it cannot be used)."""
    requests = [
        (SearchFilter(video_ids=(c.video_id,), t_min=low, t_max=high), _frames_in(c, low, high)) for c, low, high in spans
    ]
    answers = store.search_batch(vector, requests + ([(ahead, seeds)] if ahead is not None else []), threshold)
    following = answers.pop() if ahead is not None else None
    runs: list[Run] = []
    for (cluster, low, high), (_, asked), found in zip(spans, requests, answers, strict=True):
        if not cluster.interval or len(found) >= asked:  # no known sampling rate, or denser than it says: grow from seeds
            runs += _runs(cluster.hits, complete=False)
            following = None
            continue
        for run in _runs(found, complete=True):
            run.grow_left = run.start - low <= run.max_gap + EPSILON and low > (flt.t_min or 0.0)
            run.grow_right = high - run.end <= run.max_gap + EPSILON
            run.window = {"left": 2 * FIRST_WINDOW, "right": 2 * FIRST_WINDOW}
            runs.append(run)
    return _grow(store, vector, flt, threshold, _merge(runs)), following


def _frames_in(run: Run, low: float, high: float) -> int:
    """How many frames to ask for in a time range: twice what the sampling rate puts there (rates vary)."""
    return 2 * int((high - low) / run.interval + 1) + 2 if run.interval else 2 * len(run.hits) + 2


def _runs(hits: Sequence[FrameHit], complete: bool, gap: float = BRIDGE_FACTOR) -> list[Run]:
    """Hits grouped by video, split where a gap exceeds `gap` sampling intervals; `complete`: nothing more to find."""
    by_video: dict[str, list[FrameHit]] = {}
    for hit in hits:
        by_video.setdefault(hit.video_id, []).append(hit)
    runs = []
    for video_id, found in by_video.items():
        found.sort(key=lambda h: h.timestamp)
        interval = sampling_interval(found)
        max_gap = gap * interval if interval else 0.0
        current = [found[0]]
        for hit in found[1:]:
            if hit.timestamp - current[-1].timestamp <= max_gap + EPSILON:
                current.append(hit)
            else:
                runs.append(Run(video_id, current, interval, not complete, not complete))
                current = [hit]
        runs.append(Run(video_id, current, interval, not complete, not complete))
    return runs


def _merge(runs: list[Run]) -> list[Run]:
    """Runs of one video that overlap or lie within the sampling gap of each other become one."""
    runs = sorted(runs, key=lambda r: (r.video_id, r.start))
    merged: list[Run] = []
    for run in runs:
        last = merged[-1] if merged else None
        near = last is not None and run.start - last.end <= max(last.max_gap, run.max_gap) + EPSILON
        if last is not None and near and last.video_id == run.video_id:
            frames = {h.frame: h for h in last.hits + run.hits}
            last.hits = sorted(frames.values(), key=lambda h: h.timestamp)
            last.grow_right = run.grow_right if run.end >= last.end else last.grow_right
            last.interval = last.interval or run.interval
        else:
            merged.append(run)
    return merged


def _window(run: Run, side: str, flt: SearchFilter) -> tuple[float, float] | None:
    """The time range just past one edge of a run (inside the search's time range), or None when there is none."""
    if not run.interval:
        return None
    span = run.window[side] * run.interval
    low, high = (run.end + EPSILON, run.end + span) if side == "right" else (run.start - span, run.start - EPSILON)
    low = max(low, 0.0, flt.t_min if flt.t_min is not None else 0.0)
    high = min(high, flt.t_max) if flt.t_max is not None else high
    return None if high < low else (low, high)


def _at_limit(side: str, low: float, high: float, flt: SearchFilter) -> bool:
    """Whether a window reaches the end of what can be searched on its side (the video's start, the time range's
    ends): past it, there is nothing more to find."""
    if side == "left":
        return low <= max(0.0, flt.t_min if flt.t_min is not None else 0.0) + EPSILON
    return flt.t_max is not None and high >= flt.t_max - EPSILON


def _extend(run: Run, side: str, found: list[FrameHit], window_edge: float, at_limit: bool = False) -> None:
    """Take the window's hits that continue the run without a gap; close the edge when the run ends inside it, or
    when the window reached the limit of the search (a run that starts a frame after the video does: its first
    frame did not match; without this, the window doubled for ever, one search a step, until it overflowed)."""
    found = sorted(found, key=lambda h: h.timestamp, reverse=side == "left")
    edge = run.end if side == "right" else run.start
    taken = []
    for hit in found:
        if abs(hit.timestamp - edge) > run.max_gap + EPSILON:
            break
        taken.append(hit)
        edge = hit.timestamp
    if side == "right":
        run.hits = run.hits + taken
    else:
        run.hits = taken[::-1] + run.hits
    if at_limit or abs(window_edge - edge) > run.max_gap + EPSILON:
        setattr(run, f"grow_{side}", False)
    else:
        run.window[side] *= 2


def _grow(store: VectorStore, vector: np.ndarray, flt: SearchFilter, threshold: float, runs: list[Run]) -> list[Run]:
    """Grow runs at their open edges until each ends, merging runs that meet: each step searches the window
    past every open edge (one video, one time range each: the store scores just those frames), in one batch."""
    while sum(len(r.hits) for r in runs) < MAX_FRAMES:
        steps = []
        for run in runs:
            for side in ("left", "right"):
                window = _window(run, side, flt) if getattr(run, f"grow_{side}") else None
                if window is None:
                    setattr(run, f"grow_{side}", False)
                else:
                    steps.append((run, side, window))
        if not steps:
            break
        requests = [
            (SearchFilter(video_ids=(r.video_id,), t_min=low, t_max=high), _frames_in(r, low, high))
            for r, _, (low, high) in steps
        ]
        for (run, side, (low, high)), (_, asked), found in zip(
            steps, requests, store.search_batch(vector, requests, threshold), strict=True
        ):
            if len(found) >= asked:  # denser than the sampling rate says: a narrower window next time
                run.window[side] = max(1, run.window[side] // 2)
            else:
                _extend(run, side, found, high if side == "right" else low, _at_limit(side, low, high, flt))
        runs = _merge(runs)
    return runs
