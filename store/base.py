"""The store: frame points and video records in Qdrant, whichever way Qdrant is reached.

Backends implement a handful of primitives over two collections (frames, videos; store/backend.py); the frame
and video semantics (model check, what searches may see, records) live here once, the write side (runs, and
`store.run()`, the one way to write) in store/writes.py. How a write becomes visible is described in
store/runs.py. `VectorStore` (store/api.py) is the interface callers hold: this class, or the service's
HostedStore, which forwards it to a store process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any, Self, TypeVar

import numpy as np

from framesearch.errors import InvalidInput, ModelMismatch, NotFound, StoreDamaged
from framesearch.store.api import VectorStore
from framesearch.store.filters import Kind, SearchFilter, StoredPoint
from framesearch.store.guard import CHECK_HINT
from framesearch.store.pages import VideoSort, page_of
from framesearch.store.runs import Visibility, is_marker
from framesearch.store.schema import (
    BASE_RUN,
    HIT_FIELDS,
    RUN,
    TIMESTAMP,
    VIDEO_ID,
    CollectionInfo,
    FrameHit,
    IndexStatus,
    VideoRecord,
    needs_wider,
    point_id,
    video_point_id,
)
from framesearch.store.writes import RunWrites
from framesearch.vectors import normalize

log = logging.getLogger(__name__)
T = TypeVar("T")

VISIBILITY_TRIES = 3
SCROLL_PAGE = 1000  # points per page when a backend scrolls
FACET_LIMIT = 10_000_000  # distinct values a facet count may return (every video)


class QdrantStore(RunWrites):
    """Frames and videos in Qdrant, over a backend's primitives (store/backend.py); the write side, runs, is
    RunWrites's (store/writes.py). EdgeStore and ClientStore are the backends."""

    def index_status(self) -> IndexStatus:
        """Frames stored and frames covered by the HNSW index (backends without an index report none)."""
        count = self.stored_points()
        return IndexStatus(points=count, indexed=0)

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """Index the frames written since the last build (only those), blocking until done; `progress` is told
        the status before and after. Searches stay exact-correct meanwhile: unindexed frames are scanned."""
        status = self.index_status()
        if progress:
            progress(status)
        return status

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # collection

    def info(self) -> CollectionInfo | None:
        """The model and dimension the collection was created for; None before the first ingest."""
        return self._read_info()

    def ensure_collection(self, model: str, dim: int, model_path: str | None = None) -> CollectionInfo:
        """Create the collection for `model` (recording where its folder is) or check it holds that model's vectors."""
        info = self._read_info()
        if info is None:
            self._check_writable()
            with self._state.claim:  # two first writers at once: one creates, the other finds it made
                info = self._read_info()
                if info is None:
                    info = CollectionInfo(model=model, dim=int(dim), model_path=model_path)
                    self._create(info)
                    self._changed()
                    return info
        if info.model != model or info.dim != dim:
            raise ModelMismatch(
                f"{self.description} holds vectors of model {info.model!r} ({info.dim} dims); "
                f"refusing vectors of model {model!r} ({dim} dims). Use another collection or store for another model."
            )
        return info

    # what searches see

    def visibility(self) -> Visibility:
        """Videos with a run in progress, and their committed runs (kept between writes where no other process
        writes)."""
        return self._kept("visibility", self._read_visibility)

    def _read_visibility(self) -> Visibility:
        markers = self.run_markers()
        pending = tuple(sorted({m.video_id for m in markers}))
        found = self._retrieve("videos", [video_point_id(v) for v in pending]) if pending else []
        records = [p.payload for p in found if not is_marker(p.payload)]
        committed = tuple(sorted({str(r) for p in records for r in (p.get(RUN), p.get(BASE_RUN)) if r}))
        return Visibility(pending, committed)

    def _consistent(self, read: Callable[[Visibility], T]) -> T:
        """Run `read(visibility)` until no run began or committed meanwhile (a marker precedes its points)."""
        seen = self.visibility()
        result = read(seen)
        for _ in range(VISIBILITY_TRIES - 1):
            now = self.visibility()
            if now == seen:
                break
            seen, result = now, read(now)
        return result

    def search(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[FrameHit]:
        """Cosine ANN search over the committed frames, best first."""
        return [self._hit(payload, score) for payload, score in self._rows(vector, flt, limit, threshold, HIT_FIELDS)]

    def search_videos(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[tuple[str, float]]:
        """`search`'s answer as (video id, score) pairs: all a segment search's seeds need (search/retrieval.py).
        Nothing else of each frame is read or sent (~2 ms less per segment search through the store process)."""
        rows = self._rows(vector, flt, limit, threshold, (VIDEO_ID,))
        try:
            return [(str(payload[VIDEO_ID]), float(score)) for payload, score in rows]
        except KeyError:
            raise StoreDamaged(f"{self.description} holds a frame point without {VIDEO_ID}; {CHECK_HINT}") from None

    def _rows(
        self, vector: np.ndarray, flt: SearchFilter, limit: int, threshold: float | None, fields: tuple[str, ...]
    ) -> list[tuple[dict, float]]:
        """The (payload `fields`, score) of the best `limit` committed frames, searched wider for a low query."""
        info = self._read_info()
        if info is None:
            return []
        query = self._query_vector(vector, info)
        key = hash(np.asarray(query, dtype=np.float32).tobytes())
        state = self._state
        with state.lock:
            known = key in state.wide
        wide = known and self._widen(None, threshold, flt, known=True)

        def read(seen: Visibility, wide: bool) -> list[tuple[dict, float]]:
            return self._query(query, replace(flt, visible=seen), limit, threshold, wide=wide, fields=fields)

        rows = self._consistent(lambda seen: read(seen, wide))
        if not wide and self._widen(rows, threshold, flt):
            with state.lock:  # its next searches (the next round of a segment search) go wide at once
                state.wide[key] = True
            rows = self._consistent(lambda seen: read(seen, True))
        return rows

    def _widen(
        self, rows: list[tuple[dict, float]] | None, threshold: float | None, flt: SearchFilter, known: bool = False
    ) -> bool:
        """Whether a search's answer calls for a wider search: a low best score (store/schema.py `needs_wider`) in a
        search of the whole library (`known`: the same query vector scored low before). A search narrowed to videos
        or a time range (the spans of a moment) mostly scores just the frames it selects, exactly: a wider graph
        search would find nothing more."""
        if not self.adaptive_ef or flt.video_ids or flt.t_min is not None or flt.t_max is not None:
            return False
        low = needs_wider(-1.0 if known else rows[0][1] if rows else None, threshold)
        return low and self._searches_graph()

    def search_batch(
        self, vector: np.ndarray, requests: Sequence[tuple[SearchFilter, int]], threshold: float | None = None
    ) -> list[list[FrameHit]]:
        """The same query vector under several (filter, limit) pairs over the committed frames, in one call where
        the backend allows."""
        info = self._read_info()
        if info is None or not requests:
            return [[] for _ in requests]
        query = self._query_vector(vector, info)

        def read(seen: Visibility, asked: Sequence[tuple[SearchFilter, int]] = requests, wide: bool = False) -> list:
            return self._query_batch(query, [(replace(flt, visible=seen), limit) for flt, limit in asked], threshold, wide)

        answers = self._consistent(read)
        again = [i for i, rows in enumerate(answers) if self._widen(rows, threshold, requests[i][0])]
        if again:
            wider = self._consistent(lambda seen: read(seen, [requests[i] for i in again], wide=True))
            for i, rows in zip(again, wider, strict=True):
                answers[i] = rows
        return [[self._hit(payload, score) for payload, score in rows] for rows in answers]

    def _query_vector(self, vector: np.ndarray, info: CollectionInfo) -> list[float]:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != info.dim:
            raise InvalidInput(f"query vector has {vec.shape[0]} dimensions; the collection's have {info.dim}")
        return normalize(vec).tolist()

    def _hit(self, payload: dict, score: float) -> FrameHit:
        try:
            return FrameHit.from_payload(payload, score)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreDamaged(f"{self.description} holds a frame point without {exc}; {CHECK_HINT}") from None

    def frame_vector(self, video_id: str, frame: int) -> np.ndarray:
        """The stored vector of one frame of the video's committed version (for 'more like this')."""
        run = self.id_run(video_id)
        found = self._retrieve("frames", [point_id(video_id, frame, run)], with_vectors=True) if run else []
        if found and found[0].vector is not None:
            return np.asarray(found[0].vector, dtype=np.float32)
        raise NotFound(f"no frame {frame} of video {video_id!r} in {self.description}")

    def sample_vectors(self, size: int) -> np.ndarray:
        """The vectors of the first `size` committed frames in point-id order: a fixed pseudo-random sample of the
        library (ids are hashes), which follows it as videos come and go."""
        info = self._read_info()
        if info is None:
            return np.zeros((0, 0), dtype=np.float32)

        def read(seen: Visibility) -> list:
            points = self._scroll("frames", SearchFilter(visible=seen), with_vectors=True)
            return [p.vector for p in islice(points, size) if p.vector]

        rows = self._consistent(read)
        if not rows:  # a collection whose videos are all gone (deleted, or an ingest rolled back)
            return np.zeros((0, info.dim), dtype=np.float32)
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    def frame_vectors(self, frames: Sequence[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of the given (video id, frame) pairs of the videos' committed versions that exist."""
        if not frames or self._read_info() is None:
            return {}
        runs = {v: self.id_run(v) for v in {v for v, _ in frames}}
        wanted = {point_id(v, f, run): (v, int(f)) for v, f in frames if (run := runs[v])}
        found = self._retrieve("frames", list(wanted), with_vectors=True) if wanted else []
        return {wanted[p.id]: np.asarray(p.vector, dtype=np.float32) for p in found if p.id in wanted and p.vector}

    def video_frames(self, flt: SearchFilter) -> tuple[list[FrameHit], np.ndarray]:
        """Every committed frame matching `flt` with its vector, in time order (for timelines)."""
        info = self._read_info()
        if info is None:
            return [], np.zeros((0, 0), dtype=np.float32)

        def read(seen: Visibility) -> list[StoredPoint]:  # only what a hit needs: whole payloads cost 7x the time
            return list(self._scroll("frames", replace(flt, visible=seen), with_vectors=True, fields=HIT_FIELDS))

        found = self._consistent(read)
        points = sorted(found, key=lambda p: float(p.payload.get(TIMESTAMP, 0)))
        hits = [self._hit(p.payload, 0.0) for p in points]
        if not points:  # an empty range (or a video deleted meanwhile): no frames, the collection's width
            return [], np.zeros((0, info.dim), dtype=np.float32)
        return hits, np.asarray([p.vector for p in points], dtype=np.float32).reshape(len(points), -1)

    def frame_count(self, video_id: str | None = None) -> int:
        """Searchable frames (of one video, or all)."""
        if self._read_info() is None:
            return 0
        flt = SearchFilter(video_ids=(video_id,) if video_id is not None else ())  # "" is a (missing) video, not all
        return self._consistent(lambda seen: self._count("frames", replace(flt, visible=seen)))

    def stored_points(self) -> int:
        """Every frame point held, committed or not."""
        return self._count("frames", SearchFilter()) if self._read_info() else 0

    def frame_hits(self, video_id: str, run: str | None = None) -> list[FrameHit]:
        """Every frame of the video's committed version (or of `run`), in time order (score 0)."""
        if self._read_info() is None:
            return []
        runs = (run,) if run else self.committed_runs(video_id)
        points = self._scroll("frames", SearchFilter(video_ids=(video_id,), runs=runs)) if runs else iter(())
        return sorted((self._hit(p.payload, 0.0) for p in points), key=lambda h: h.timestamp)

    def frame_payload(self, video_id: str, run: str) -> dict[str, Any] | None:
        """The payload of one frame point of the video's `run` (what a lost record can be rebuilt from)."""
        if self._read_info() is None:
            return None
        return next((p.payload for p in self._scroll("frames", SearchFilter(video_ids=(video_id,), run=run))), None)

    # the library

    def put_video(self, record: VideoRecord) -> None:
        """Write a video's record as it is (a repair's; writers commit theirs in a run)."""
        self._put_record(record)

    def get_video(self, video_id: str) -> VideoRecord:
        return self._kept(("video", video_id), lambda: self._read_video(video_id)).model_copy()

    def _read_video(self, video_id: str) -> VideoRecord:
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found or is_marker(found[0].payload):
            raise NotFound(f"no video {video_id!r} in {self.description}")
        return self._record(found[0].payload)

    def _record(self, payload: dict) -> VideoRecord:
        try:
            return VideoRecord.from_payload(payload)
        except ValueError as exc:
            raise StoreDamaged(f"{self.description} holds an unreadable video record ({exc}); {CHECK_HINT}") from None

    def list_videos(self) -> list[VideoRecord]:
        """The library's records, by video id (kept up to date write by write where only this process writes)."""
        listing = self._listing(self._read_videos)
        return listing.records() if listing is not None else self._read_videos()

    def _read_videos(self) -> list[VideoRecord]:
        if self._read_info() is None:
            return []
        records = [self._record(p.payload) for p in self._scroll("videos", SearchFilter(entries="records"))]
        return sorted(records, key=lambda r: r.video_id)

    def video_page(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        match: str | None = None,
        under: str | None = None,
        sort: VideoSort = "name",
    ) -> tuple[int, list[VideoRecord]]:
        """How many videos match and one page of their records (store/pages.py), read where the store is: from the
        listing kept up to date write by write, or (a store other processes write) from every record."""
        listing = self._listing(self._read_videos)
        if listing is None:
            return page_of(self._read_videos(), limit=limit, offset=offset, match=match, under=under, sort=sort)
        return listing.page(limit=limit, offset=offset, match=match, under=under, sort=sort)

    def videos_where(self, *, content_hash: str | None = None, path: str | None = None) -> list[VideoRecord]:
        """The records of the videos with these bytes and/or known under this path: one lookup by payload index,
        whatever the library's size (never a read of every record)."""
        if not (content_hash or path) or self._read_info() is None:
            return []
        flt = SearchFilter(entries="records", content_hash=content_hash, path=path)
        return sorted((self._record(p.payload) for p in self._scroll("videos", flt)), key=lambda r: r.video_id)

    def delete_video(self, video_id: str) -> int:
        """Delete a video's frames and record as one run (the record goes first); returns the frames deleted."""
        frames = self.frame_count(video_id)
        known = self._read_info() is not None and bool(self._retrieve("videos", [video_point_id(video_id)]))
        if not frames and not known:
            raise NotFound(f"no video {video_id!r} in {self.description}")
        with self.run(video_id, op="delete") as run:
            run.commit_delete()
        return frames

    def video_points(self, video_id: str) -> Iterator[StoredPoint]:
        """Every point of a video's committed version as stored (id, payload, vector), in no order: for copying."""
        if self._read_info() is None:
            return iter(())
        runs = self.committed_runs(video_id)
        if not runs:
            return iter(())
        return self._scroll("frames", SearchFilter(video_ids=(video_id,), runs=runs), with_vectors=True)

    def verify(self) -> None:
        """The cheap check of every open: no point lost its vector, and the records' frame counts add up to the
        searchable frames (StoreDamaged if not). Two counts over indexes and one read of the records; a store
        check reads everything (store/integrity.py)."""
        if self._read_info() is None:
            return
        lost = self._count("frames", SearchFilter(vectorless=True))
        if lost:
            raise StoreDamaged(f"{self.description} is damaged: {lost} frame points lost their vectors; {CHECK_HINT}")
        records = self.list_videos()
        expected = sum(r.frames for r in records)
        held = self.frame_count()
        if expected != held:
            raise StoreDamaged(
                f"{self.description} is inconsistent: its {len(records)} video records list {expected} frames "
                f"but it holds {held} searchable frames; {CHECK_HINT}"
            )


__all__ = ["Kind", "QdrantStore", "SearchFilter", "StoredPoint", "VectorStore"]
