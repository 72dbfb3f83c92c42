"""Frame tables: every committed frame of one video in time order with its vector, kept in this process.

A segment search finds a moment's seeds with the ANN index, then needs every frame of the moment: its extent is
where the video's frames stop matching. Asking the store for them (filtered searches on one video and a time range)
cost ~10 us a frame plus a call per range; scoring the video's frames here is one matrix product (~0.1 ms for
1,000 frames of 512 dimensions). So the first search that reaches a video reads its frames and vectors once
(`store.video_frames`: ~25 ms per 1,000 frames in-process), and later searches score them in numpy.

Tables are kept per store, least recently used first out, within `search_cache_mb` (setting) of vectors. After a
write (search/calibration.py `library_stamp` moves) a table is used again only if its video's record is unchanged
(`record_token`: a new ingest run, stream chunk or delete rewrites it), so an upload does not make the service read
every other video again. The videos' records are kept per library state (their shot cuts, for the moments'
edges), which the service would otherwise ask its store process for, one call per video per search.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

from framesearch.errors import NotFound
from framesearch.search.calibration import library_stamp
from framesearch.search.segments import sampling_interval
from framesearch.store.api import VectorStore
from framesearch.store.filters import SearchFilter
from framesearch.store.schema import FrameHit, VideoRecord

MB = 1 << 20
RECORDS_KEPT = 10_000  # video records kept (moments' edges snap to their shot cuts)
DEFAULT_CACHE_MB = 512.0


@dataclass(frozen=True)
class FrameTable:
    """One video's committed frames in time order: their hits (score 0), times, and unit vectors [n, dim]."""

    hits: list[FrameHit]
    timestamps: np.ndarray
    vectors: np.ndarray
    interval: float | None  # seconds between sampled frames (search/segments.py `sampling_interval`)
    rows: dict[int, int]  # frame number -> row
    numbers: np.ndarray  # each row's frame number
    walls: list[float | None] | None  # each row's wall-clock time (live streams), None when no frame has one

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.timestamps.nbytes) + 300 * len(self.hits)

    @classmethod
    def read(cls, store: VectorStore, video_id: str) -> FrameTable:
        hits, vectors = store.video_frames(SearchFilter(video_ids=(video_id,)))
        times = np.fromiter((h.timestamp for h in hits), dtype=np.float64, count=len(hits))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hits):
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.where(norms > 0, norms, 1.0)
        rows = {h.frame: i for i, h in enumerate(hits)}
        numbers = np.fromiter((h.frame for h in hits), dtype=np.int64, count=len(hits))
        walls = [h.wall_time for h in hits] if any(h.wall_time is not None for h in hits) else None
        return cls(hits, times, vectors, sampling_interval(hits) if hits else None, rows, numbers, walls)


@dataclass
class _Kept:
    """A table kept, the video's record token it was read under, and the library state it was last checked at."""

    table: FrameTable
    token: tuple | None
    stamp: tuple


def _size(kept: _Kept) -> int:
    return kept.table.nbytes


def record_token(record: VideoRecord | None) -> tuple | None:
    """What changes whenever the video's searchable frames do: each ingest, re-ingest, stream chunk or delete
    commits a new run and rewrites the record (store/writes.py)."""
    if record is None:
        return None
    return (record.ingest_run, record.base_run, record.frames, record.indexed_at)


class FrameTables:
    """The frame tables of this process: per store, an LRU bounded in bytes. A table read under one library state
    is used under a later one while its video's record is unchanged (one record lookup per video and state): a
    write to one video leaves the others' tables kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[VectorStore, LRUCache] = weakref.WeakKeyDictionary()
        self._records: weakref.WeakKeyDictionary[VectorStore, tuple[tuple, LRUCache]] = weakref.WeakKeyDictionary()
        self.reads = 0  # tables read from a store (for tests and benchmarks)

    def _tables(self, store: VectorStore, cache_mb: float) -> LRUCache:
        budget = max(int(cache_mb * MB), 1)
        kept = self._kept.get(store)
        if kept is None or kept.maxsize != budget:
            kept = self._kept[store] = LRUCache(maxsize=budget, getsizeof=_size)
        return kept

    def get(self, store: VectorStore, video_id: str, cache_mb: float = DEFAULT_CACHE_MB) -> FrameTable:
        stamp = library_stamp(store)
        with self._lock:
            entry = self._tables(store, cache_mb).get(video_id)
            if entry is not None and entry.stamp == stamp:
                return entry.table
        token = record_token(self.records(store, {video_id})[video_id])
        if entry is not None and entry.token == token:
            with self._lock:
                entry.stamp = stamp  # the video did not change: its table stands
            return entry.table
        table = FrameTable.read(store, video_id)
        with self._lock:
            self.reads += 1
            kept = self._tables(store, cache_mb)
            if table.nbytes <= kept.maxsize and library_stamp(store) == stamp:  # nothing written while it was read
                kept[video_id] = _Kept(table, token, stamp)
        return table

    def frame_vectors(
        self, store: VectorStore, frames: list[tuple[str, int]], cache_mb: float = DEFAULT_CACHE_MB
    ) -> dict[tuple[str, int], np.ndarray]:
        """The unit vectors of (video id, frame) pairs: from the videos' tables where kept, else from the store."""
        stamp = library_stamp(store)
        with self._lock:
            kept = self._kept.get(store)
            tables = {v: e.table for v, e in kept.items() if e.stamp == stamp} if kept is not None else {}
        out: dict[tuple[str, int], np.ndarray] = {}
        missing = []
        for video_id, frame in frames:
            table = tables.get(video_id)
            row = table.rows.get(frame) if table is not None else None
            if row is None or table is None:
                missing.append((video_id, frame))
            else:
                out[(video_id, frame)] = table.vectors[row]
        if missing:
            out.update(store.frame_vectors(missing))
        return out

    def records(self, store: VectorStore, video_ids: set[str]) -> dict[str, VideoRecord | None]:
        """The records of the given videos (None for one without a record), kept for the library state."""
        stamp = library_stamp(store)
        with self._lock:  # only the videos asked for are looked up: nothing here grows with the library
            kept = self._records.get(store)
            known = kept[1] if kept is not None and kept[0] == stamp else {}
            found = {v: known[v] for v in video_ids if v in known}
        fetched: dict[str, VideoRecord | None] = {}
        for video_id in video_ids - found.keys():
            try:
                fetched[video_id] = store.get_video(video_id)
            except NotFound:
                fetched[video_id] = None
        if fetched:
            with self._lock:
                kept = self._records.get(store)
                if kept is None or kept[0] != stamp:
                    kept = (stamp, LRUCache(maxsize=RECORDS_KEPT))
                    self._records[store] = kept
                if library_stamp(store) == stamp:
                    kept[1].update(fetched)
        return {**found, **fetched}

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._records.clear()


TABLES = FrameTables()
