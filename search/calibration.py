"""Calibrated scores: a raw cosine becomes a confidence (0-1) that means the same for every query and model.

Raw CLIP cosines mean different things per query and per model (OpenAI CLIP: matches 0.25-0.35; the tiny
shapes CLIP: 0.7-0.87), so one fixed threshold cannot serve them all. For a query vector q:

    typical = mean score of q over a fixed sample of the library's frames    (what an arbitrary frame scores)
    best    = the best score of q anywhere in the library                     (one ANN lookup)
    confidence(s) = clip((s - typical) / (best - typical), 0, 1)

so 0 is "like an arbitrary frame of this library" and 1 is "as good as the best frame there is". The
default search threshold is a confidence (the `min_confidence` setting); it is turned into the raw cosine
floor `typical + c * (best - typical)` for the ANN search, so ranking and retrieval stay raw cosine.
docs/search.md has the method's evaluation.

The sample is the first frames in point-id order: ids are UUIDv5 hashes of (video, frame), so this is a
deterministic pseudo-random sample that follows the library as it changes. Its vectors are cached per store
under a version stamp (the store's write version, or the frame count and the videos' index times), so an
ingest or delete refreshes it.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

from framesearch.store.base import SearchFilter, VectorStore
from framesearch.vectors import normalize

SAMPLE_SIZE = 1024
QUERIES_KEPT = 4096  # per-query statistics kept per store and library version
SHARED_STAMP_S = 1.0  # a store others write (no version of its own): its stamp is read again after this long
MIN_SAMPLE = 8  # fewer frames than this say nothing about a query's typical score: raw thresholds apply
MIN_SPREAD = 1e-4


@dataclass(frozen=True)
class Calibration:
    """One query's scale: its typical score over the library sample and its best score in the library."""

    typical: float
    best: float

    @property
    def usable(self) -> bool:
        return self.best - self.typical > MIN_SPREAD

    def confidence(self, score: float) -> float:
        """The calibrated confidence (0-1) of a raw cosine score."""
        if not self.usable:
            return 1.0 if score >= self.best else 0.0
        return min(max((score - self.typical) / (self.best - self.typical), 0.0), 1.0)  # plain floats: per frame

    def raw_floor(self, confidence: float) -> float:
        """The raw cosine score at which the confidence reaches `confidence`."""
        return float(self.typical + confidence * (self.best - self.typical))


@dataclass(frozen=True)
class LibrarySample:
    stamp: tuple
    vectors: np.ndarray  # L2-normalised rows


_CACHE: weakref.WeakKeyDictionary[VectorStore, LibrarySample] = weakref.WeakKeyDictionary()
_STAMPS: weakref.WeakKeyDictionary[VectorStore, tuple[float, tuple]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def library_stamp(store: VectorStore) -> tuple:
    """Changes whenever frames are added or removed, or a video is indexed again: the store's own version where
    it keeps one (a store only this process writes), else the frame count and the videos' index times, read at
    most every SHARED_STAMP_S (reading them lists the library: never once per search)."""
    version = store.library_version()
    if version is not None:
        return ("version", version)
    now = time.monotonic()
    with _LOCK:
        kept = _STAMPS.get(store)
    if kept is not None and now - kept[0] < SHARED_STAMP_S:
        return kept[1]
    videos = tuple((r.video_id, r.indexed_at, r.frames) for r in store.list_videos())
    stamp = (store.frame_count(), hash(videos))
    with _LOCK:
        _STAMPS[store] = (now, stamp)
    return stamp


class PerQuery:
    """Statistics of queries on one library state, kept per store and library version (an LRU per store), so a
    repeated query (a page after the first, the same text again) costs no pass over the library sample."""

    def __init__(self) -> None:
        self._kept: weakref.WeakKeyDictionary[VectorStore, tuple[tuple, LRUCache]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, store: VectorStore, stamp: tuple, key: tuple) -> object | None:
        with self._lock:
            kept = self._kept.get(store)
            return kept[1].get(key) if kept is not None and kept[0] == stamp else None

    def put(self, store: VectorStore, stamp: tuple, key: tuple, value: object) -> None:
        with self._lock:
            kept = self._kept.get(store)
            if kept is None or kept[0] != stamp:  # the library changed: what was kept is of another library
                kept = (stamp, LRUCache(maxsize=QUERIES_KEPT))
                self._kept[store] = kept
            kept[1][key] = value


_TYPICAL = PerQuery()


def library_sample(store: VectorStore, size: int = SAMPLE_SIZE) -> np.ndarray:
    """The vectors of the library's calibration sample (cached until the library changes)."""
    stamp = library_stamp(store)
    with _LOCK:
        cached = _CACHE.get(store)
        if cached is not None and cached.stamp == stamp:
            return cached.vectors
    vectors = store.sample_vectors(size)
    sample = LibrarySample(stamp, normalize(vectors) if len(vectors) else np.zeros((0, 0), np.float32))
    with _LOCK:
        _CACHE[store] = sample
    return sample.vectors


def calibrate(store: VectorStore, vector: np.ndarray, best: float | None = None) -> Calibration | None:
    """The query's calibration on this library, or None when the library is too small to say. `best`: the
    query's best score over the whole library, when the caller has already searched for it (else one lookup)."""
    stamp = library_stamp(store)
    query = normalize(np.asarray(vector, dtype=np.float32).reshape(-1))
    key = (query.tobytes(),)
    kept = _TYPICAL.get(store, stamp, key)
    if kept is None:
        sample = library_sample(store)
        if len(sample) < MIN_SAMPLE or sample.shape[1] != query.shape[0]:
            kept = (None, None)
        else:
            scores = sample @ query
            kept = (float(scores.mean()), float(scores.max()))
        _TYPICAL.put(store, stamp, key, kept)
    typical, sample_best = kept  # type: ignore[misc]
    if typical is None or sample_best is None:
        return None
    if best is None:
        top = store.search(query, SearchFilter(), limit=1)
        best = top[0].score if top else -1.0
    calibration = Calibration(typical=typical, best=max(sample_best, best))
    return calibration if calibration.usable else None
