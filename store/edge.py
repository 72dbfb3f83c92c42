"""Qdrant Edge backend: the Qdrant engine in-process, data in a local folder, nothing to start.

Layout of the folder: `<store>/<collection>/frames` and `/videos` (two Edge shards), `collection.json`
(the model the vectors came from) and a lock file, so that a second process gets a clear error
(store/edge_files.py). Opening finishes what a crash left: a half-made creation is removed, abandoned
ingest runs are rolled back, and the records are checked against the points. A store on a read-only
filesystem is opened from a private copy, for reading only.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from framesearch.errors import DiskFull, StoreDamaged, StoreError, StoreLocked
from framesearch.files import fsync_dir
from framesearch.store import edge_files as files
from framesearch.store.base import FACET_LIMIT, SCROLL_PAGE, Kind, QdrantStore, SearchFilter, StoredPoint
from framesearch.store.edge_build import SWAPPED, recover_swap
from framesearch.store.guard import CHECK_HINT, engine_errors, is_panic, translate
from framesearch.store.runs import RUN_KIND
from framesearch.store.schema import (
    CONTENT_HASH,
    HIT_FIELDS,
    HNSW_EF,
    INDEX,
    INDEXED_FIELDS,
    KIND,
    PATH,
    PATHS,
    RUN,
    TIMESTAMP,
    VIDEO_ID,
    VIDEO_INDEXED_FIELDS,
    CollectionInfo,
    IndexConfig,
    IndexStatus,
    search_ef,
)
from framesearch.store.space import DEFAULT_RESERVE_MB, FLOOR, MB, ensure_space, estimate_bytes, free_bytes

log = logging.getLogger(__name__)
CHECKPOINT_S = 30.0  # an ingest persists segments at most this often (the write-ahead log holds every update)


def _edge():
    import qdrant_edge

    return qdrant_edge


def _edge_filter(flt: SearchFilter) -> Any:
    q = _edge()
    must: list[Any] = []
    must_not: list[Any] = []
    if flt.video_ids:
        must.append(q.FieldCondition(VIDEO_ID, match=q.MatchAny(list(flt.video_ids))))
    if flt.t_min is not None or flt.t_max is not None:
        must.append(q.FieldCondition(TIMESTAMP, range=q.RangeFloat(gte=flt.t_min, lte=flt.t_max)))
    if flt.run:
        must.append(q.FieldCondition(RUN, match=q.MatchValue(flt.run)))
    if flt.runs:
        must.append(q.FieldCondition(RUN, match=q.MatchAny(list(flt.runs))))
    if flt.keep_runs:
        must_not.append(q.FieldCondition(RUN, match=q.MatchAny(list(flt.keep_runs))))
    if flt.visible is not None and flt.visible.pending:
        hidden: list[Any] = [q.FieldCondition(VIDEO_ID, match=q.MatchAny(list(flt.visible.pending)))]
        if flt.visible.committed:
            hidden.append(q.FieldCondition(RUN, match=q.MatchExcept(list(flt.visible.committed))))
        must_not.append(q.Filter(must=hidden))
    if flt.vectorless:
        must_not.append(q.HasVectorCondition(""))
    if flt.entries == "markers":
        must.append(q.FieldCondition(KIND, match=q.MatchValue(RUN_KIND)))
    elif flt.entries == "records":
        must_not.append(q.FieldCondition(KIND, match=q.MatchValue(RUN_KIND)))
    must_not += [_edge_range(q, *r) for r in flt.exclude]
    if flt.skip_videos:
        must_not.append(q.FieldCondition(VIDEO_ID, match=q.MatchAny(list(flt.skip_videos))))
    if flt.content_hash:
        must.append(q.FieldCondition(CONTENT_HASH, match=q.MatchValue(flt.content_hash)))
    if flt.path:
        must.append(q.Filter(should=[q.FieldCondition(key, match=q.MatchValue(flt.path)) for key in (PATH, PATHS)]))
    if not must and not must_not:
        return None
    return q.Filter(must=must or None, must_not=must_not or None)


def _edge_range(q: Any, video_id: str, start: float, end: float) -> Any:
    """Frames of one video from `start` to `end` seconds."""
    return q.Filter(
        must=[
            q.FieldCondition(VIDEO_ID, match=q.MatchValue(video_id)),
            q.FieldCondition(TIMESTAMP, range=q.RangeFloat(gte=start, lte=end)),
        ]
    )


def _edge_config(info: CollectionInfo, index: IndexConfig) -> Any:
    """Frames shard: HNSW built by `optimize()`, int8 vectors in RAM, float vectors and payloads on disk."""
    q = _edge()
    quantization = None
    if index.quantization:
        quantization = q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, memory=q.Memory.Pinned)
    return q.EdgeConfig(
        vectors=q.EdgeVectorParams(
            size=info.dim, distance=q.Distance.Cosine, memory=q.Memory.Cold if index.quantization else None
        ),
        payload_memory=q.Memory.Cold,
        hnsw_config=q.HnswIndexConfig(
            m=index.m,
            ef_construct=index.ef_construct,
            full_scan_threshold=index.kilobytes(index.full_scan_frames, info.dim),
            max_indexing_threads=index.indexing_threads,
            on_disk=index.hnsw_on_disk,
            payload_m=index.payload_m,
        ),
        quantization_config=quantization,
        optimizers=q.EdgeOptimizersConfig(
            indexing_threshold=index.kilobytes(index.index_min_frames, info.dim),
            max_segment_size=index.kilobytes(index.max_segment_frames, info.dim),
        ),
    )


READ_FULL_MB = 64  # a reader opens a private copy when less than this is free (a log replay writes up to a segment)


class EdgeStore(QdrantStore):
    """A store in a local folder through `qdrant-edge-py`; one process at a time.

    `recover` rolls back abandoned runs on open and `verify` checks records against points (a store
    check opens with neither, to report them); `reserve_mb` is the free disk space writes leave; `reading`
    (a command that only reads) reads a private copy when the store's disk is (nearly) full."""

    exclusive = True
    index_builds_here = True

    def __init__(
        self,
        root: Path,
        collection: str = "frames",
        *,
        reserve_mb: int = DEFAULT_RESERVE_MB,
        recover: bool = True,
        verify: bool = True,
        reading: bool = False,
        hnsw_ef: int = HNSW_EF,
        index: IndexConfig = INDEX,
    ) -> None:
        self.hnsw_ef, self.index = hnsw_ef, index
        self._graph: bool | None = None  # whether any frames are in an HNSW segment (None: not known yet)
        self._pending = self._written = False
        self.frame_writes = 0  # writes to the frames shard: an index built on a copy is stale once this moves
        self._flushed_at = time.monotonic()
        self.root = Path(root) / collection
        self.description = f"store {Path(root)} (collection {collection!r})"
        self.reserve_mb = reserve_mb
        self._shards: dict[str, Any] = {}
        self._lock_file: Any = None
        self._copy: Path | None = None
        self.data = self.root
        self.reading = reading
        try:
            self._open(recover, verify)
        except BaseException:
            self.close()
            raise

    def _open(self, recover: bool, verify: bool) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = self._acquire_lock()
        except OSError as exc:
            if not files.is_read_only_error(exc):
                raise translate(exc, self.description, "opening it", local=False) from exc
            self._open_read_only()
        if not self.read_only:
            recover_swap(self.root)
        if not self.read_only and not (self.root / files.INFO_FILE).exists():
            removed = files.remove_leftovers(self.root, self._points_in)
            if removed:
                log.warning("%s: removed a half-created store (%s)", self.description, ", ".join(removed))
        self._info = self._load_info()
        if self._info is None:
            return
        if self.reading and not self.read_only and self._nearly_full():
            self._read_a_copy()  # loading may replay the log through memory maps: on a full disk, SIGBUS
        try:
            self._open_shards()
        except DiskFull:  # loading replays the write-ahead log, which needs space: read a private copy instead
            if self.read_only:
                raise
            self._close_shards()
            self._read_a_copy()
            self._open_shards()
        if not self.read_only:
            self._add_video_indexes()
        if recover and not self.read_only and any(not self.is_live(m) for m in self.run_markers()):
            if self._has_reserve():
                for marker in self.recover():
                    log.warning(
                        "%s: rolled back unfinished %s of %r (%s)",
                        self.description,
                        marker.op,
                        marker.video_id,
                        marker.describe(),
                    )
        if verify:
            self.verify()

    def _acquire_lock(self) -> Any:
        path = self.root / "lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise self._locked(holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:2]) or 'python'})")
        handle.flush()
        return handle

    def _locked(self, holder: str) -> StoreLocked:
        from framesearch.store.address import read_address

        service = read_address(self.root.parent)
        if service is not None and service.collection == self.root.name:
            return StoreLocked(
                f"{self.description} is held by {service.describe()}. Qdrant Edge lets one process open a store: "
                f"this command cannot go through the service; stop it, or use its HTTP API at {service.url}."
            )
        return StoreLocked(
            f"{self.description} is in use by {holder}. Qdrant Edge lets one process open a store: "
            "stop that process, use its HTTP API, or run a Qdrant server (setting qdrant_url)."
        )

    def _nearly_full(self) -> bool:
        """So little is free where the store lies that replaying its log in place could fill the disk."""
        free = free_bytes(self.root)
        return free is not None and free < READ_FULL_MB * MB

    def _read_a_copy(self) -> None:
        """Give up the writer's lock and read a private copy: the store's own disk is full."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        self._open_read_only(reason="its disk is full")
        self._info = self._load_info()

    def _open_read_only(self, reason: str = "") -> None:
        """Read a store we may not write from a private copy (Edge maps its files for writing)."""
        self.read_only = True
        self.description += f" (read-only{': ' + reason if reason else ''})"
        if not (self.root / files.INFO_FILE).exists():
            return
        try:  # a writer elsewhere (a permission-only read-only folder) holds the lock exclusively
            self._lock_file = open(self.root / "lock")
            fcntl.flock(self._lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._locked(self._lock_file.read().strip() or "another process") from None
        except OSError:
            self._lock_file = None
        self._copy = files.readable_copy(self.root, self.description)
        self.data = self._copy

    def _points_in(self, shard: Path) -> int | None:
        """Points a shard holds; None if it cannot be read."""
        q = _edge()
        try:
            loaded = q.EdgeShard.load(str(shard))
        except BaseException as exc:
            if not (isinstance(exc, Exception) or is_panic(exc)):
                raise
            return None
        try:
            return int(loaded.count(q.CountRequest(exact=True)))
        finally:
            loaded.close()

    def _load_info(self) -> CollectionInfo | None:
        path = self.data / files.INFO_FILE
        if not path.exists():
            return None
        try:
            info = CollectionInfo.from_metadata(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreDamaged(f"{path} is damaged ({exc}); {CHECK_HINT}") from exc
        if info is None:
            raise StoreDamaged(f"{path} does not name a model; {CHECK_HINT}")
        return info

    def _open_shards(self) -> None:
        """Load both shards, then publish them together (readers in other threads see both or neither)."""
        q = _edge()
        shards: dict[str, Any] = {}
        try:
            for kind in files.SHARDS:
                path = self.data / kind
                if not path.is_dir():
                    raise StoreDamaged(f"{self.description} has lost its {kind} shard ({path} is missing); {CHECK_HINT}")
                with engine_errors(self.description, f"opening its {kind} shard"):
                    shards[kind] = q.EdgeShard.load(str(path))
        except BaseException:
            self._shards = shards  # closed by the caller
            raise
        self._shards = shards

    def _has_reserve(self) -> bool:
        try:
            ensure_space(self.data, 0, self.reserve_mb, "repairs")
        except StoreError:
            log.warning("%s: too little free disk space to roll back unfinished runs now", self.description)
            return False
        return True

    def ensure_space(self, frames: int, dim: int, what: str) -> None:
        ensure_space(self.data, estimate_bytes(frames, dim), self.reserve_mb, what)

    def _read_info(self) -> CollectionInfo | None:
        return self._info

    def _create(self, info: CollectionInfo) -> None:
        """Build both shards in a temporary folder, rename them into place, then write collection.json."""
        self.ensure_space(0, info.dim, "creating the store")
        files.remove_leftovers(self.root, self._points_in, creating=True)
        building = self.root / f"{files.CREATING}{uuid.uuid4().hex}"
        try:
            with engine_errors(self.description, "creating the store"):
                self._build_shards(building, info)
            for kind in files.SHARDS:
                os.replace(building / kind, self.root / kind)
            fsync_dir(self.root)
            files.write_json_atomic(self.root / files.INFO_FILE, info.to_metadata())
        finally:
            shutil.rmtree(building, ignore_errors=True)
        self._open_shards()
        self._info = info  # last: other threads take a store with a collection to have its shards

    def _build_shards(self, folder: Path, info: CollectionInfo) -> None:
        q = _edge()
        configs = {
            "frames": _edge_config(info, self.index),
            "videos": q.EdgeConfig(vectors=q.EdgeVectorParams(size=1, distance=q.Distance.Dot)),
        }
        kinds = {"keyword": q.PayloadSchemaType.Keyword, "float": q.PayloadSchemaType.Float}
        indexes = {"frames": INDEXED_FIELDS, "videos": VIDEO_INDEXED_FIELDS}
        for kind, config in configs.items():
            shard = q.EdgeShard.create(str(folder / kind), config)
            for name, schema in indexes[kind].items():
                shard.update(q.UpdateOperation.create_field_index(name, kinds[schema]))
            shard.flush()
            shard.close()

    def _add_video_indexes(self) -> None:
        """Give a store made before them the videos' payload indexes (content hash, paths): lookups stay O(1)."""
        q = _edge()
        shard = self._shard("videos")
        with engine_errors(self.description, "indexing its video records"):
            have = set(shard.info().payload_schema)
            for name in VIDEO_INDEXED_FIELDS.keys() - have:
                shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Keyword))

    def _shard(self, kind: Kind) -> Any:
        return self._shards[kind]

    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None:
        q = _edge()
        points = [q.Point(pid, vec, payload) for pid, vec, payload in zip(ids, vectors, payloads, strict=False)]
        with engine_errors(self.description, f"writing {len(points)} {kind} points"):
            self._shard(kind).update(q.UpdateOperation.upsert_points(points))
        self._touched(kind)

    def _request(
        self,
        vector: list[float],
        flt: SearchFilter,
        limit: int,
        threshold: float | None,
        wide: bool = False,
        fields: tuple[str, ...] = HIT_FIELDS,
    ) -> Any:
        q = _edge()
        quantization = None
        if self.index.quantization:
            quantization = q.QuantizationSearchParams(rescore=True, oversampling=self.index.oversampling)
        return q.QueryRequest(
            limit=limit,
            query=q.Query.Nearest(vector),
            filter=_edge_filter(flt),
            with_payload=q.PayloadSelector.Include(list(fields)),  # only what a hit needs: payloads cost per point
            score_threshold=threshold,
            params=q.SearchParams(hnsw_ef=search_ef(self.hnsw_ef, limit, wide), quantization=quantization),
        )

    def _query(
        self,
        vector: list[float],
        flt: SearchFilter,
        limit: int,
        threshold: float | None,
        wide: bool = False,
        fields: tuple[str, ...] = HIT_FIELDS,
    ) -> list[tuple[dict, float]]:
        with engine_errors(self.description, "searching"):
            points = self._shard("frames").query(self._request(vector, flt, limit, threshold, wide, fields))
        return [(p.payload or {}, p.score) for p in points]

    def _query_batch(
        self, vector: list[float], requests: list[tuple[SearchFilter, int]], threshold: float | None, wide: bool = False
    ) -> list[list[tuple[dict, float]]]:
        q = _edge()
        batch = q.QueryBatchRequest([self._request(vector, flt, limit, threshold, wide) for flt, limit in requests])
        with engine_errors(self.description, "searching"):
            answers = self._shard("frames").query_batch(batch)
        return [[(p.payload or {}, p.score) for p in points] for points in answers]

    def index_status(self) -> IndexStatus:
        if self._info is None:
            return IndexStatus(points=0, indexed=0)
        with engine_errors(self.description, "reading its index status"):
            info = self._shard("frames").info()
        return IndexStatus(points=int(info.points_count), indexed=int(info.indexed_vectors_count), pending=self._pending)

    def _searches_graph(self) -> bool:
        if self._graph is None:
            self._graph = self.index_status().indexed > 0
        return self._graph

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """Run the Edge optimizers: new frames get their HNSW graph (segments already indexed are kept), deleted
        ones are vacuumed. Blocks until done; Edge lets go of the interpreter meanwhile, so other threads go on searching."""
        if self._info is None or self.read_only:
            return self.index_status()
        if progress:
            progress(self.index_status())
        self._pending = False  # before: frames written while it builds (searches and writes go on) stay pending
        try:
            with engine_errors(self.description, "building its search index"):
                self._shard("frames").optimize()
        except BaseException:
            self._pending = True
            raise
        self._graph = None
        status = self.index_status()
        if progress:
            progress(status)
        return status

    @property
    def builds_on_copy(self) -> bool:
        """Whether the index can be built on a copy of the frames shard (store/edge_build.py)."""
        return self._info is not None and not self.read_only

    def replace_frames_shard(self, built: Path) -> None:
        """Put `built`, a copy of the frames shard holding every frame written (its index built elsewhere), in the
        live shard's place; the live one is kept (and reopened) if the copy does not load."""
        q = _edge()
        live, swapped = self.data / "frames", self.data / SWAPPED
        self._shards["frames"].close()
        os.replace(live, swapped)
        os.replace(built, live)
        fsync_dir(self.data)
        try:
            with engine_errors(self.description, "opening its newly indexed frames shard"):
                self._shards["frames"] = q.EdgeShard.load(str(live))
        except BaseException:
            shutil.rmtree(live, ignore_errors=True)
            os.replace(swapped, live)
            self._shards["frames"] = q.EdgeShard.load(str(live))
            raise
        shutil.rmtree(swapped, ignore_errors=True)
        self._graph = None  # the new shard has its graph
        self._pending = False

    def _delete(self, kind: Kind, flt: SearchFilter) -> None:
        q = _edge()
        condition = _edge_filter(flt)
        if condition is None:
            raise ValueError("refusing to delete without a filter")
        with engine_errors(self.description, f"deleting {kind} points"):
            self._shard(kind).update(q.UpdateOperation.delete_points_by_filter(condition))
        self._touched(kind)

    def _set_run(self, flt: SearchFilter, run: str) -> None:
        q = _edge()
        condition = _edge_filter(flt)
        if condition is None:
            raise ValueError("refusing to retag without a filter")
        with engine_errors(self.description, "moving frame points to another run"):
            self._shard("frames").update(q.UpdateOperation.set_payload_by_filter(condition, {RUN: run}))
        self._touched("frames")

    def _scroll(
        self, kind: Kind, flt: SearchFilter, with_vectors: bool = False, fields: tuple[str, ...] | None = None
    ) -> Iterator[StoredPoint]:
        q = _edge()
        offset = None
        payload = q.PayloadSelector.Include(list(fields)) if fields is not None else True  # whole payloads cost
        while True:
            request = q.ScrollRequest(
                offset=offset, limit=SCROLL_PAGE, filter=_edge_filter(flt), with_payload=payload, with_vector=with_vectors
            )
            with engine_errors(self.description, f"reading {kind}"):
                records, offset = self._shard(kind).scroll(request)
                page = [
                    StoredPoint(str(r.id), r.payload or {}, _plain_vector(r.vector) if with_vectors else None) for r in records
                ]
            yield from page
            if offset is None:
                return

    def _count(self, kind: Kind, flt: SearchFilter) -> int:
        q = _edge()
        condition = _edge_filter(flt)
        with engine_errors(self.description, f"counting {kind}"):
            if condition is None:  # the whole shard: its point count, without counting (4 ms at 100k frames)
                return int(self._shard(kind).info().points_count)
            return int(self._shard(kind).count(q.CountRequest(exact=True, filter=condition)))

    def _touched(self, kind: Kind) -> None:
        """Note a write: frames wait for an index build, and segments for a flush."""
        self._pending = self._pending or kind == "frames"
        self.frame_writes += kind == "frames"
        self._written = True

    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]:
        with engine_errors(self.description, f"reading {kind}"):
            records = self._shard(kind).retrieve([uuid.UUID(i) for i in ids], with_payload=True, with_vector=with_vectors)
            return [StoredPoint(str(r.id), r.payload or {}, _plain_vector(r.vector) if with_vectors else None) for r in records]

    def _facet(self, key: str, flt: SearchFilter) -> dict[str, int]:
        q = _edge()
        request = q.FacetRequest(key=key, limit=FACET_LIMIT, exact=True, filter=_edge_filter(flt))
        with engine_errors(self.description, f"counting frames by {key}"):
            return {str(hit.value): int(hit.count) for hit in self._shard("frames").facet(request).hits}

    def flush(self) -> None:
        """Persist segments (updates are already in the write-ahead log, so this is for speed of reopening)."""
        if self.read_only:
            return
        free = free_bytes(self.data)
        if free is not None and free < max(self.reserve_mb * MB, FLOOR):
            log.debug("%s: flush put off: too little free disk space", self.description)
            return  # the write-ahead log holds every update: a flush can wait for space (and must not die of SIGBUS)
        for kind, shard in self._shards.items():
            with engine_errors(self.description, f"flushing {kind}"):
                shard.flush()
        self._flushed_at = time.monotonic()

    def checkpoint(self) -> None:
        """Flush when the last flush is over CHECKPOINT_S old. Every update is in the write-ahead log when its call
        returns, so a kill loses nothing without a flush; flushing bounds the log the next open replays (a bulk
        ingest of short videos flushing after each one spent most of its time flushing)."""
        if self._written and time.monotonic() - self._flushed_at >= CHECKPOINT_S:
            self.flush()

    def close(self) -> None:
        try:
            if self._written:
                self.flush()
        except StoreError as exc:  # the write-ahead log holds every update; a failed flush loses nothing
            level = logging.INFO if isinstance(exc, DiskFull) else logging.WARNING  # a full disk is said by the caller
            log.log(level, "%s: flush on close failed: %s", self.description, exc)
        self._close_shards()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    def _close_shards(self) -> None:
        for shard in self._shards.values():
            try:
                shard.close()
            except BaseException as exc:  # a panic on a damaged shard must not mask the error being reported
                if not (isinstance(exc, Exception) or is_panic(exc)):
                    raise
                log.warning("%s: close failed: %s", self.description, exc)
        self._shards = {}


def _plain_vector(vector: Any) -> list[float] | None:
    """Edge returns a dense vector as a list, or a dict of named vectors."""
    if isinstance(vector, dict):
        vector = next(iter(vector.values()), None)
    if vector is None or isinstance(vector, list):  # a list of floats already: no copy (2 ms per 1,000 frames)
        return vector
    return [float(x) for x in vector]
