"""Qdrant Edge backend: the Qdrant engine in-process, data in a local folder, nothing to start.

Layout of the folder: `<store>/<collection>/frames` and `/videos` (two Edge shards), `collection.json`
(the model the vectors came from) and a lock file, so that a second process gets a clear error.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from framesearch.errors import StoreError, StoreLocked
from framesearch.store.base import Kind, SearchFilter, StoredPoint, VectorStore
from framesearch.store.schema import (
    HNSW_EF,
    INDEX,
    INDEXED_FIELDS,
    RUN,
    TIMESTAMP,
    VIDEO_ID,
    CollectionInfo,
    IndexConfig,
    IndexStatus,
)

SCROLL_PAGE = 1000


def _edge():
    import qdrant_edge

    return qdrant_edge


def _edge_filter(flt: SearchFilter) -> Any:
    q = _edge()
    must: list[Any] = []
    if flt.video_ids:
        must.append(q.FieldCondition(VIDEO_ID, match=q.MatchAny(list(flt.video_ids))))
    if flt.t_min is not None or flt.t_max is not None:
        must.append(q.FieldCondition(TIMESTAMP, range=q.RangeFloat(gte=flt.t_min, lte=flt.t_max)))
    must_not: list[Any] = [q.FieldCondition(RUN, match=q.MatchValue(flt.not_run))] if flt.not_run else []
    must_not += [_edge_range(q, *r) for r in flt.exclude]
    if not must and not must_not:
        return None
    return q.Filter(must=must or None, must_not=must_not or None)


def _edge_range(q: Any, video_id: str, start: float, end: float) -> Any:
    """Frames of one video from `start` to `end` seconds."""
    return q.Filter(must=[q.FieldCondition(VIDEO_ID, match=q.MatchValue(video_id)),
                          q.FieldCondition(TIMESTAMP, range=q.RangeFloat(gte=start, lte=end))])


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
            m=index.m, ef_construct=index.ef_construct, full_scan_threshold=index.kilobytes(index.full_scan_frames, info.dim)
        ),
        quantization_config=quantization,
        optimizers=q.EdgeOptimizersConfig(indexing_threshold=index.kilobytes(index.index_min_frames, info.dim)),
    )


class EdgeStore(VectorStore):
    """A store in a local folder through `qdrant-edge-py`; one process at a time."""

    index_builds_here = True

    def __init__(
        self, root: Path, collection: str = "frames", *, hnsw_ef: int = HNSW_EF, index: IndexConfig = INDEX
    ) -> None:
        self.hnsw_ef, self.index = hnsw_ef, index
        self._pending = self._written = False
        self._videos: list[Any] | None = None
        self.root = Path(root) / collection
        self.description = f"store {Path(root)} (collection {collection!r})"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock()
        self._shards: dict[str, Any] = {}
        self._info = self._load_info()
        if self._info is not None:
            self._open_shards()

    def _acquire_lock(self) -> Any:
        path = self.root / "lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreLocked(
                f"{self.description} is in use by {holder}. Qdrant Edge lets one process open a store: "
                "stop that process, use its HTTP API, or run a Qdrant server (setting qdrant_url)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:2]) or 'python'})")
        handle.flush()
        return handle

    def _load_info(self) -> CollectionInfo | None:
        path = self.root / "collection.json"
        if not path.exists():
            return None
        try:
            return CollectionInfo.from_metadata(json.loads(path.read_text()))
        except (ValueError, KeyError) as exc:
            raise StoreError(f"{path} is corrupt: {exc}") from exc

    def _open_shards(self) -> None:
        """Each shard is loaded on first use (a search never loads the videos shard)."""
        self._shards = _Shards(self.root)

    def _read_info(self) -> CollectionInfo | None:
        return self._info

    def _create(self, info: CollectionInfo) -> None:
        q = _edge()
        frames = q.EdgeShard.create(str(self.root / "frames"), _edge_config(info, self.index))
        kinds = {"keyword": q.PayloadSchemaType.Keyword, "float": q.PayloadSchemaType.Float}
        for name, kind in INDEXED_FIELDS.items():
            frames.update(q.UpdateOperation.create_field_index(name, kinds[kind]))
        videos = q.EdgeShard.create(
            str(self.root / "videos"), q.EdgeConfig(vectors=q.EdgeVectorParams(size=1, distance=q.Distance.Dot))
        )
        videos.update(q.UpdateOperation.create_field_index(VIDEO_ID, q.PayloadSchemaType.Keyword))
        frames.flush()
        videos.flush()
        self._shards = {"frames": frames, "videos": videos}
        self._written = True
        tmp = self.root / "collection.json.tmp"
        tmp.write_text(json.dumps(info.to_metadata()))
        tmp.replace(self.root / "collection.json")
        self._info = info

    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None:
        q = _edge()
        points = [q.Point(pid, vec, payload) for pid, vec, payload in zip(ids, vectors, payloads, strict=False)]
        self._shards[kind].update(q.UpdateOperation.upsert_points(points))
        self._pending = self._pending or kind == "frames"
        self._written = True
        self._videos = None if kind == "videos" else self._videos

    def _request(self, vector: list[float], flt: SearchFilter, limit: int, threshold: float | None) -> Any:
        q = _edge()
        quantization = None
        if self.index.quantization:
            quantization = q.QuantizationSearchParams(rescore=True, oversampling=self.index.oversampling)
        return q.QueryRequest(
            limit=limit,
            query=q.Query.Nearest(vector),
            filter=_edge_filter(flt),
            with_payload=True,
            score_threshold=threshold,
            params=q.SearchParams(hnsw_ef=max(self.hnsw_ef, limit), quantization=quantization),
        )

    def _query(self, vector: list[float], flt: SearchFilter, limit: int, threshold: float | None) -> list[tuple[dict, float]]:
        points = self._shards["frames"].query(self._request(vector, flt, limit, threshold))
        return [(p.payload or {}, p.score) for p in points]

    def _query_batch(
        self, vector: list[float], requests: list[tuple[SearchFilter, int]], threshold: float | None
    ) -> list[list[tuple[dict, float]]]:
        q = _edge()
        batch = q.QueryBatchRequest([self._request(vector, flt, limit, threshold) for flt, limit in requests])
        return [[(p.payload or {}, p.score) for p in points] for points in self._shards["frames"].query_batch(batch)]

    def index_status(self) -> IndexStatus:
        if self._info is None:
            return IndexStatus(points=0, indexed=0)
        info = self._shards["frames"].info()
        return IndexStatus(points=int(info.points_count), indexed=int(info.indexed_vectors_count), pending=self._pending)

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """Run the Edge optimizers: new frames get their HNSW graph (segments already indexed are kept), deleted
        ones are vacuumed. Blocks (and holds the GIL) until done; searches meanwhile wait, then answer correctly."""
        if self._info is None:
            return self.index_status()
        if progress:
            progress(self.index_status())
        self._shards["frames"].optimize()
        self._pending = False
        status = self.index_status()
        if progress:
            progress(status)
        return status

    def _delete(self, kind: Kind, flt: SearchFilter) -> None:
        q = _edge()
        condition = _edge_filter(flt)
        if condition is None:
            raise ValueError("refusing to delete without a filter")
        self._shards[kind].update(q.UpdateOperation.delete_points_by_filter(condition))
        self._pending = self._pending or kind == "frames"
        self._written = True
        self._videos = None if kind == "videos" else self._videos

    def _scroll(self, kind: Kind, flt: SearchFilter, with_vectors: bool = False) -> Iterator[StoredPoint]:
        q = _edge()
        offset = None
        while True:
            request = q.ScrollRequest(
                offset=offset, limit=SCROLL_PAGE, filter=_edge_filter(flt), with_payload=True, with_vector=with_vectors
            )
            records, offset = self._shards[kind].scroll(request)
            for r in records:
                yield StoredPoint(str(r.id), r.payload or {}, _plain_vector(r.vector) if with_vectors else None)
            if offset is None:
                return

    def _count(self, kind: Kind, flt: SearchFilter) -> int:
        q = _edge()
        condition = _edge_filter(flt)
        if condition is None:  # the whole shard: its point count, without counting (4 ms at 100k frames)
            return int(self._shards[kind].info().points_count)
        return int(self._shards[kind].count(q.CountRequest(exact=True, filter=condition)))

    def list_videos(self) -> list[Any]:
        """The library's records, kept between writes (one process writes an Edge store: this one)."""
        if self._videos is None:
            self._videos = super().list_videos()
        return list(self._videos)

    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]:
        records = self._shards[kind].retrieve([uuid.UUID(i) for i in ids], with_payload=True, with_vector=with_vectors)
        return [
            StoredPoint(str(r.id), r.payload or {}, _plain_vector(r.vector) if with_vectors else None) for r in records
        ]

    def flush(self) -> None:
        """Persist segments (updates are already in the write-ahead log, so this is for speed of reopening)."""
        for shard in self._shards.values():
            shard.flush()

    def close(self) -> None:
        if self._written:
            self.flush()
        for shard in self._shards.values():
            shard.close()
        self._shards = {}
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


class _Shards(dict):
    """The store's Edge shards by kind, each loaded from its folder when first asked for."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, kind: str) -> Any:
        path = self.root / kind
        try:
            shard = _edge().EdgeShard.load(str(path))
        except Exception as exc:  # qdrant_edge raises plain Exception
            raise StoreError(f"cannot open {path}: {exc}") from exc
        self[kind] = shard
        return shard


def _plain_vector(vector: Any) -> list[float] | None:
    """Edge returns a dense vector as a list, or a dict of named vectors."""
    if isinstance(vector, dict):
        vector = next(iter(vector.values()), None)
    return None if vector is None else [float(x) for x in vector]
