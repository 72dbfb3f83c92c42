"""The store interface: frame points and video records in Qdrant, whichever way Qdrant is reached.

Backends implement a handful of primitives over two collections (frames, videos); the frame and
video semantics (model check, runs and their commit, what searches may see, records) live here once.
How a write becomes visible is described in store/runs.py.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, Literal

import numpy as np

from framesearch.errors import (
    DiskFull,
    InvalidInput,
    ModelMismatch,
    NotFound,
    StoreDamaged,
    StoreReadOnly,
    VideoBusy,
)
from framesearch.store.guard import CHECK_HINT
from framesearch.store.runs import HEARTBEAT_S, Op, RunMarker, Visibility, is_marker, marker_id, new_run
from framesearch.store.schema import (
    HNSW_EF,
    RUN,
    TIMESTAMP,
    CollectionInfo,
    FrameHit,
    FramePoint,
    IndexStatus,
    VideoRecord,
    point_id,
    video_point_id,
)
from framesearch.vectors import normalize

log = logging.getLogger(__name__)

Kind = Literal["frames", "videos"]
VISIBILITY_TRIES = 3
SCROLL_PAGE = 1000  # points per page when a backend scrolls
FACET_LIMIT = 10_000_000  # distinct values a facet count may return (every video)


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions: any of `video_ids`, a time range, points (not) of one run, what is visible,
    in the videos collection records or run markers only, points that lost their vector, and none of the
    `exclude` ranges (video id, from s, to s)."""

    video_ids: tuple[str, ...] = ()
    t_min: float | None = None
    t_max: float | None = None
    not_run: str | None = None
    keep_runs: tuple[str, ...] = ()  # points (or markers) of none of these runs
    run: str | None = None
    visible: Visibility | None = None
    entries: Literal["records", "markers"] | None = None
    vectorless: bool = False  # only points whose vector is missing (a damaged vector store)
    exclude: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None


class VectorStore(ABC):
    """Frames and videos in Qdrant. Subclasses provide the primitives below."""

    description: str = "store"
    read_only: bool = False
    exclusive: bool = False  # True when no other process can write this store (its visibility is cached)
    hnsw_ef: int = HNSW_EF  # search breadth (the `hnsw_ef` setting); the limit raises it for large limits
    index_builds_here: bool = False  # build_index() does the work in this process (else a server does it)

    @abstractmethod
    def _read_info(self) -> CollectionInfo | None: ...

    @abstractmethod
    def _create(self, info: CollectionInfo) -> None:
        """Create the frames collection (cosine, payload indexes, model metadata) and the videos one."""

    @abstractmethod
    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None: ...

    @abstractmethod
    def _query(self, vector: list[float], flt: SearchFilter, limit: int, threshold: float | None) -> list[tuple[dict, float]]: ...

    def _query_batch(
        self, vector: list[float], requests: list[tuple[SearchFilter, int]], threshold: float | None
    ) -> list[list[tuple[dict, float]]]:
        """One query vector under several (filter, limit) pairs; backends with a batch call override this."""
        return [self._query(vector, flt, limit, threshold) for flt, limit in requests]

    @abstractmethod
    def _delete(self, kind: Kind, flt: SearchFilter) -> None: ...

    @abstractmethod
    def _scroll(self, kind: Kind, flt: SearchFilter, with_vectors: bool = False) -> Iterator[StoredPoint]: ...

    @abstractmethod
    def _count(self, kind: Kind, flt: SearchFilter) -> int: ...

    @abstractmethod
    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]: ...

    @abstractmethod
    def _facet(self, key: str, flt: SearchFilter) -> dict[str, int]:
        """Exact counts of frame points per value of a keyword payload field."""

    @abstractmethod
    def close(self) -> None: ...

    def flush(self) -> None:
        """Persist pending writes where the backend buffers them (Qdrant servers persist on their own)."""
        return None

    def checkpoint(self) -> None:
        """After a committed write: persist now or soon, as the backend sees fit (a flush unless it says otherwise)."""
        self.flush()

    def ensure_space(self, frames: int, dim: int, what: str) -> None:
        """Refuse (DiskFull) a write of `frames` points that the disk cannot hold; stores on a server skip this."""
        return None

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

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # state shared by the run protocol (created lazily: backends need not call a base __init__)

    @property
    def _runs(self) -> _RunState:
        state = self.__dict__.get("_run_state")
        if state is None:
            state = self.__dict__.setdefault("_run_state", _RunState())
        return state

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(f"{self.description} is read-only: it can be searched, not written")

    # collection

    def info(self) -> CollectionInfo | None:
        """The model and dimension the collection was created for; None before the first ingest."""
        return self._read_info()

    def ensure_collection(self, model: str, dim: int, model_path: str | None = None) -> CollectionInfo:
        """Create the collection for `model` (recording where its folder is) or check it holds that model's vectors."""
        info = self._read_info()
        if info is None:
            self._check_writable()
            with self._runs.claim:  # two first writers at once: one creates, the other finds it made
                info = self._read_info()
                if info is None:
                    info = CollectionInfo(model=model, dim=int(dim), model_path=model_path)
                    self._create(info)
                    return info
        if info.model != model or info.dim != dim:
            raise ModelMismatch(
                f"{self.description} holds vectors of model {info.model!r} ({info.dim} dims); "
                f"refusing vectors of model {model!r} ({dim} dims). Use another collection or store for another model."
            )
        return info

    # runs: begin, write frames, commit the record, finish (see store/runs.py)

    def begin_run(self, video_id: str, op: Op = "ingest") -> str:
        """Claim `video_id` for one write and announce its run (VideoBusy while another writer holds it)."""
        self._check_writable()
        self.ensure_space(0, 1, f"writing video {video_id!r}")
        with self._runs.claim:
            live = [m for m in self.run_markers(video_id) if m.is_live(self._runs.mine)]
            if live:
                raise VideoBusy(
                    f"video {video_id!r} is being written by {live[0].describe()}: one write per video at a time, "
                    "try again when it is done"
                )
            self.adopt_legacy_record(video_id)
            run = new_run()
            self._put_marker(RunMarker.mine(video_id, run, op))
            self._runs.mine.add(run)
            self._runs.beats[run] = time.monotonic()
        return run

    def heartbeat(self, video_id: str, run: str) -> None:
        """Tell other processes the run is alive (at most every HEARTBEAT_S seconds)."""
        if time.monotonic() - self._runs.beats.get(run, 0.0) < HEARTBEAT_S:
            return
        found = self._retrieve("videos", [marker_id(run)])
        if found:
            marker = RunMarker.model_validate(found[0].payload)
            self._put_marker(marker.model_copy(update={"heartbeat": time.time()}))
        self._runs.beats[run] = time.monotonic()

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None:
        """Write frame points of ingest `run` (invisible to searches until the run is committed)."""
        if not frames:
            return
        self._check_writable()
        vectors = normalize(np.stack([f.vector for f in frames]))
        self._upsert("frames", [f.point_id(run) for f in frames], vectors.tolist(), [f.payload(run) for f in frames])

    def sweep_stale(self, video_id: str, run: str) -> None:
        """Delete the video's points that `run` did not write (the older protocol's sweep; finish_run does it now)."""
        self._check_writable()
        self._delete("frames", SearchFilter(video_ids=(video_id,), not_run=run))

    def commit_run(self, record: VideoRecord) -> None:
        """Make the run the record names the video's searchable version: one write of the record."""
        if not record.ingest_run:
            raise ValueError("a committed record names its ingest run")
        self.put_video(record)

    def finish_run(self, video_id: str, run: str | None = None) -> None:
        """After a commit (or instead of one): drop the video's points of runs that are neither committed nor still
        being written by a live writer elsewhere (all of them if it has no record and no such writer), then the
        markers of runs that are over. Idempotent; what repairs a crashed run."""
        self._check_writable()
        committed = self.committed_run(video_id)
        live = {m.ingest_run for m in self.run_markers(video_id) if m.ingest_run != run and self.is_live(m)}
        keep = tuple(sorted(live | ({committed} if committed else set())))
        self._delete("frames", SearchFilter(video_ids=(video_id,), keep_runs=keep))
        self._delete("videos", SearchFilter(video_ids=(video_id,), entries="markers", keep_runs=tuple(sorted(live))))
        self._runs.mine.discard(run or "")
        self._runs.beats.pop(run or "", None)
        self._changed()

    def run_markers(self, video_id: str | None = None) -> list[RunMarker]:
        """Runs in progress or abandoned (of one video, or all)."""
        if self._read_info() is None:
            return []
        flt = SearchFilter(video_ids=(video_id,) if video_id else (), entries="markers")
        return [RunMarker.model_validate(p.payload) for p in self._scroll("videos", flt)]

    def committed_run(self, video_id: str) -> str | None:
        """The run the video's record names (None without a record)."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        return found[0].payload.get(RUN) if found else None

    def is_live(self, marker: RunMarker) -> bool:
        """Whether a run's writer may still be at work (see RunMarker.is_live)."""
        return marker.is_live(self._runs.mine)

    def tidy_video(self, video_id: str) -> bool:
        """Keep only the video's committed run (all of it gone without a record) unless a live writer holds it."""
        self._check_writable()
        with self._runs.claim:
            if any(self.is_live(m) for m in self.run_markers(video_id)):
                return False
            self.finish_run(video_id)
            return True

    def recover(self) -> list[RunMarker]:
        """Finish every abandoned run (its points are removed, its video keeps its committed version)."""
        abandoned = [m for m in self.run_markers() if not self.is_live(m)]
        for video_id in sorted({m.video_id for m in abandoned}):
            self.tidy_video(video_id)
        return abandoned

    def point_counts(self, key: str, video_id: str | None = None) -> dict[str, int]:
        """Every stored frame point (committed or not) counted per value of `key` (video_id or ingest_run)."""
        if self._read_info() is None:
            return {}
        counts = self._facet(key, SearchFilter(video_ids=(video_id,) if video_id else ()))
        return {value: n for value, n in counts.items() if n > 0}  # an index may list values of deleted points

    def _put_marker(self, marker: RunMarker) -> None:
        self._upsert("videos", [marker_id(marker.ingest_run)], [[1.0]], [marker.payload()])
        self._changed()

    def adopt_legacy_record(self, video_id: str) -> str | None:
        """A record written before records named their run gets the run its points carry (the most common);
        returns the run adopted, if any."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found or found[0].payload.get(RUN):
            return None
        runs = self.point_counts(RUN, video_id)
        if not runs:
            return None
        run = Counter(runs).most_common(1)[0][0]
        self.put_video(self._record(found[0].payload).model_copy(update={"ingest_run": run}))
        return run

    # what searches see

    def library_version(self) -> Any:
        """A value that changes whenever what searches see may have changed, where the backend can tell cheaply
        (a store only this process writes); None where it cannot (a server other processes write to)."""
        return None

    def _changed(self) -> None:
        with self._runs.lock:
            self._runs.visibility = None
            self._runs.generation += 1

    def visibility(self) -> Visibility:
        """Videos with a run in progress, and their committed runs (cached when no other process writes)."""
        with self._runs.lock:
            if self.exclusive and self._runs.visibility is not None:
                return self._runs.visibility
            generation = self._runs.generation
        markers = self.run_markers()
        pending = tuple(sorted({m.video_id for m in markers}))
        found = self._retrieve("videos", [video_point_id(v) for v in pending]) if pending else []
        committed = tuple(sorted({p.payload[RUN] for p in found if p.payload.get(RUN) and not is_marker(p.payload)}))
        seen = Visibility(pending, committed)
        if self.exclusive:
            with self._runs.lock:
                if self._runs.generation == generation:  # nothing changed while reading: safe to keep
                    self._runs.visibility = seen
        return seen

    def _consistent(self, read: Any) -> Any:
        """Run `read(visibility)` until no run began or committed meanwhile (a marker precedes its points)."""
        for _ in range(VISIBILITY_TRIES):
            seen = self.visibility()
            result = read(seen)
            if self.visibility() == seen:
                return result
        return result

    def search(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[FrameHit]:
        """Cosine ANN search over the committed frames, best first."""
        info = self._read_info()
        if info is None:
            return []
        query = self._query_vector(vector, info)
        rows = self._consistent(lambda seen: self._query(query, replace(flt, visible=seen), limit, threshold))
        return [self._hit(payload, score) for payload, score in rows]

    def search_batch(
        self, vector: np.ndarray, requests: Sequence[tuple[SearchFilter, int]], threshold: float | None = None
    ) -> list[list[FrameHit]]:
        """The same query vector under several (filter, limit) pairs over the committed frames, in one call where
        the backend allows."""
        info = self._read_info()
        if info is None or not requests:
            return [[] for _ in requests]
        query = self._query_vector(vector, info)

        def read(seen: Visibility) -> list:
            return self._query_batch(query, [(replace(flt, visible=seen), limit) for flt, limit in requests], threshold)

        answers = self._consistent(read)
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
        run = self.committed_run(video_id)
        candidates = ([point_id(video_id, frame, run)] if run else []) + [point_id(video_id, frame)]  # + older ids
        for pid in candidates:
            found = self._retrieve("frames", [pid], with_vectors=True)
            if found and found[0].vector is not None and (run is None or found[0].payload.get(RUN) == run):
                return np.asarray(found[0].vector, dtype=np.float32)
        raise NotFound(f"no frame {frame} of video {video_id!r} in {self.description}")

    def sample_vectors(self, size: int) -> np.ndarray:
        """The vectors of the first `size` committed frames in point-id order: a fixed pseudo-random sample of the
        library (ids are hashes), which follows it as videos come and go."""
        if self._read_info() is None:
            return np.zeros((0, 0), dtype=np.float32)

        def read(seen: Visibility) -> list:
            points = self._scroll("frames", SearchFilter(visible=seen), with_vectors=True)
            return [p.vector for p in islice(points, size) if p.vector]

        rows = self._consistent(read)
        if not rows:  # a collection whose videos are all gone (deleted, or an ingest rolled back)
            return np.zeros((0, self._read_info().dim), dtype=np.float32)
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    def frame_vectors(self, frames: Sequence[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of the given (video id, frame) pairs of the videos' committed versions that exist."""
        if not frames or self._read_info() is None:
            return {}
        runs = {v: self.committed_run(v) for v in {v for v, _ in frames}}
        wanted: dict[str, tuple[str, int]] = {}
        for v, f in frames:
            if runs[v]:
                wanted[point_id(v, f, runs[v])] = (v, int(f))
            wanted[point_id(v, f)] = (v, int(f))  # stores written before points named their run
        found = self._retrieve("frames", list(wanted), with_vectors=True)
        vectors: dict[tuple[str, int], np.ndarray] = {}
        for p in found:
            key = wanted.get(p.id)
            if key and p.vector and runs[key[0]] in (None, p.payload.get(RUN)):
                vectors[key] = np.asarray(p.vector, dtype=np.float32)
        return vectors

    def video_frames(self, flt: SearchFilter) -> tuple[list[FrameHit], np.ndarray]:
        """Every committed frame matching `flt` with its vector, in time order (for timelines)."""
        if self._read_info() is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        found = self._consistent(lambda seen: list(self._scroll("frames", replace(flt, visible=seen), with_vectors=True)))
        points = sorted(found, key=lambda p: float(p.payload.get(TIMESTAMP, 0)))
        hits = [self._hit(p.payload, 0.0) for p in points]
        return hits, np.asarray([p.vector for p in points], dtype=np.float32).reshape(len(points), -1)

    def frame_count(self, video_id: str | None = None) -> int:
        """Searchable frames (of one video, or all)."""
        if self._read_info() is None:
            return 0
        flt = SearchFilter(video_ids=(video_id,) if video_id else ())
        return self._consistent(lambda seen: self._count("frames", replace(flt, visible=seen)))

    def stored_points(self) -> int:
        """Every frame point held, committed or not."""
        return self._count("frames", SearchFilter()) if self._read_info() else 0

    def frame_hits(self, video_id: str, run: str | None = None) -> list[FrameHit]:
        """Every frame of the video's committed version (or of `run`), in time order (score 0)."""
        if self._read_info() is None:
            return []
        run = run or self.committed_run(video_id)
        points = self._scroll("frames", SearchFilter(video_ids=(video_id,), run=run))
        return sorted((self._hit(p.payload, 0.0) for p in points), key=lambda h: h.timestamp)

    def frame_payload(self, video_id: str, run: str) -> dict[str, Any] | None:
        """The payload of one frame point of the video's `run` (what a lost record can be rebuilt from)."""
        if self._read_info() is None:
            return None
        return next((p.payload for p in self._scroll("frames", SearchFilter(video_ids=(video_id,), run=run))), None)

    # the library

    def put_video(self, record: VideoRecord) -> None:
        self._check_writable()
        self._upsert("videos", [video_point_id(record.video_id)], [[1.0]], [record.to_payload()])
        self._changed()

    def get_video(self, video_id: str) -> VideoRecord:
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
        if self._read_info() is None:
            return []
        records = [self._record(p.payload) for p in self._scroll("videos", SearchFilter(entries="records"))]
        return sorted(records, key=lambda r: r.video_id)

    def delete_video(self, video_id: str) -> int:
        """Delete a video's frames and record as one run (the record goes first); returns the frames deleted."""
        frames = self.frame_count(video_id)
        known = self._read_info() is not None and bool(self._retrieve("videos", [video_point_id(video_id)]))
        if not frames and not known:
            raise NotFound(f"no video {video_id!r} in {self.description}")
        self.ensure_space(0, 1, f"deleting video {video_id!r}")
        run = self.begin_run(video_id, op="delete")
        try:
            self._delete("videos", SearchFilter(video_ids=(video_id,), entries="records"))
            self._changed()
        except BaseException as exc:
            self.abandon_run(video_id, run, exc)
            raise
        self.finish_run_after_commit(video_id, run)
        return frames

    def video_points(self, video_id: str) -> Iterator[StoredPoint]:
        """Every point of a video's committed version as stored (id, payload, vector), in no order: for copying."""
        if self._read_info() is None:
            return iter(())
        run = self.committed_run(video_id)
        return self._scroll("frames", SearchFilter(video_ids=(video_id,), run=run), with_vectors=True)

    def put_points(self, points: Sequence[StoredPoint]) -> None:
        """Write points exactly as another store holds them (same ids, payloads, vectors). Call it within a run of
        their video begun here: they stay invisible until a record naming their own run commits them."""
        if points:
            self._check_writable()
            self._upsert("frames", [p.id for p in points], [list(p.vector or ()) for p in points], [p.payload for p in points])

    def abandon_run(self, video_id: str, run: str, cause: BaseException) -> None:
        """Undo an uncommitted run as far as possible; what is left stays invisible until a repair.
        After a full disk or on a read-only store nothing more is written."""
        if isinstance(cause, (DiskFull, StoreReadOnly)) or not isinstance(cause, Exception):
            self._runs.mine.discard(run)
            return
        self.finish_run_after_commit(video_id, run)

    def finish_run_after_commit(self, video_id: str, run: str) -> None:
        """finish_run, whose failure is logged, not raised: the write is committed, its cleanup can wait."""
        try:
            self.finish_run(video_id, run)
        except Exception as exc:  # the commit stands; the next open or a store check finishes the run
            self._runs.mine.discard(run)
            log.warning("%s: cleanup of run %s of %r left for later: %s", self.description, run, video_id, exc)

    def verify(self) -> None:
        """The cheap integrity check every embedded store makes on open (store/integrity.py)."""
        from framesearch.store.integrity import verify_store

        verify_store(self)


class _RunState:
    """This process's runs in progress and the cached visibility."""

    def __init__(self) -> None:
        self.claim = threading.RLock()
        self.lock = threading.Lock()
        self.mine: set[str] = set()
        self.beats: dict[str, float] = {}
        self.visibility: Visibility | None = None
        self.generation = 0  # bumped by every marker or record write, so a cache is never older than one


__all__ = ["Kind", "SearchFilter", "StoredPoint", "VectorStore"]
