"""qdrant-client backend: a Qdrant server or cluster (URL), or qdrant-client's local mode (a path).

Local mode holds its folder exclusively, like Qdrant Edge: opening it rolls back abandoned runs and
checks records against points. A server is shared: a store check does that, when no writer is running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from framesearch.errors import StoreError
from framesearch.store.base import FACET_LIMIT, SCROLL_PAGE, Kind, QdrantStore, SearchFilter, StoredPoint
from framesearch.store.cluster import Layout
from framesearch.store.guard import engine_errors
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
from framesearch.store.space import DEFAULT_RESERVE_MB, ensure_space, estimate_bytes

INDEX_POLL_S = 0.5
INDEX_WAIT_S = 3600.0


def _models():
    from qdrant_client import models

    return models


def _client_filter(flt: SearchFilter) -> Any:
    m = _models()
    must: list[Any] = []
    must_not: list[Any] = []
    if flt.video_ids:
        must.append(m.FieldCondition(key=VIDEO_ID, match=m.MatchAny(any=list(flt.video_ids))))
    if flt.t_min is not None or flt.t_max is not None:
        must.append(m.FieldCondition(key=TIMESTAMP, range=m.Range(gte=flt.t_min, lte=flt.t_max)))
    if flt.run:
        must.append(m.FieldCondition(key=RUN, match=m.MatchValue(value=flt.run)))
    if flt.runs:
        must.append(m.FieldCondition(key=RUN, match=m.MatchAny(any=list(flt.runs))))
    if flt.keep_runs:
        must_not.append(m.FieldCondition(key=RUN, match=m.MatchAny(any=list(flt.keep_runs))))
    if flt.visible is not None and flt.visible.pending:
        hidden: list[Any] = [m.FieldCondition(key=VIDEO_ID, match=m.MatchAny(any=list(flt.visible.pending)))]
        if flt.visible.committed:
            hidden.append(m.FieldCondition(key=RUN, match=m.MatchExcept(**{"except": list(flt.visible.committed)})))
        must_not.append(m.Filter(must=hidden))
    if flt.vectorless:
        must_not.append(m.HasVectorCondition(has_vector=""))
    if flt.entries == "markers":
        must.append(m.FieldCondition(key=KIND, match=m.MatchValue(value=RUN_KIND)))
    elif flt.entries == "records":
        must_not.append(m.FieldCondition(key=KIND, match=m.MatchValue(value=RUN_KIND)))
    must_not += [_client_range(m, *r) for r in flt.exclude]
    if flt.skip_videos:
        must_not.append(m.FieldCondition(key=VIDEO_ID, match=m.MatchAny(any=list(flt.skip_videos))))
    if flt.content_hash:
        must.append(m.FieldCondition(key=CONTENT_HASH, match=m.MatchValue(value=flt.content_hash)))
    if flt.path:
        must.append(m.Filter(should=[m.FieldCondition(key=key, match=m.MatchValue(value=flt.path)) for key in (PATH, PATHS)]))
    if not must and not must_not:
        return None
    return m.Filter(must=must or None, must_not=must_not or None)


def _client_range(m: Any, video_id: str, start: float, end: float) -> Any:
    """Frames of one video from `start` to `end` seconds."""
    return m.Filter(
        must=[
            m.FieldCondition(key=VIDEO_ID, match=m.MatchValue(value=video_id)),
            m.FieldCondition(key=TIMESTAMP, range=m.Range(gte=start, lte=end)),
        ]
    )


def _vector(vector: Any) -> list[float] | None:
    """A point's dense vector as floats (qdrant-client types it as any vector structure)."""
    return None if vector is None else [float(x) for x in vector]


class ClientStore(QdrantStore):
    """A store reached through `qdrant-client`: `url=` for a server, `path=` for local mode."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        collection: str = "frames",
        client: Any = None,
        layout: Layout | None = None,
        reserve_mb: int = DEFAULT_RESERVE_MB,
        recover: bool = True,
        verify: bool = True,
        hnsw_ef: int = HNSW_EF,
        index: IndexConfig = INDEX,
    ) -> None:
        from qdrant_client import QdrantClient

        self.hnsw_ef, self.index = hnsw_ef, index
        self.local = client is None and not url
        self.names = {"frames": collection, "videos": f"{collection}_videos"}
        self.layout = layout or Layout()
        where = url or path or "memory"
        self.description = f"Qdrant at {where} (collection {collection!r})"
        self.path = path if not url and client is None else None
        self.exclusive = self.path is not None  # local mode locks its folder
        self.reserve_mb = reserve_mb
        try:
            if client is not None:
                self.client = client
            elif url:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=30)
            else:
                self.client = QdrantClient(path=path) if path else QdrantClient(location=":memory:")
            self._info = self._fetch_info()
        except StoreError:
            raise
        except Exception as exc:  # connection errors come in many types
            raise StoreError(f"cannot reach {self.description}: {exc}") from exc
        if self._info is not None:
            self._add_video_indexes()
        if self.exclusive and self._info is not None:
            if recover:
                self.recover()
            if verify:
                self.verify()

    def ensure_space(self, frames: int, dim: int, what: str) -> None:
        if self.path:
            ensure_space(Path(self.path), estimate_bytes(frames, dim), self.reserve_mb, what)

    def _guard(self, action: str) -> Any:
        return engine_errors(self.description, action, local=self.exclusive)

    def _fetch_info(self) -> CollectionInfo | None:
        name = self.names["frames"]
        if not self.client.collection_exists(name):
            return None
        meta = self.client.get_collection(name).config.metadata
        info = CollectionInfo.from_metadata(meta)
        if info is None:
            raise StoreError(f"collection {name!r} at {self.description} was not made by framesearch")
        return info

    def _add_video_indexes(self) -> None:
        """Give collections made before them the videos' payload indexes (content hash, paths)."""
        name = self.names["videos"]
        with self._guard("indexing its video records"):
            if not self.client.collection_exists(name):  # a half-made pair: a store check reports it
                return
            have = set(self.client.get_collection(name).payload_schema or {})
            for field in VIDEO_INDEXED_FIELDS.keys() - have:
                self.client.create_payload_index(name, field, _models().PayloadSchemaType.KEYWORD)

    def _read_info(self) -> CollectionInfo | None:
        if self._info is None:
            self._info = self._fetch_info()
        return self._info

    def _create(self, info: CollectionInfo) -> None:
        with self._guard("creating the collections"):
            self._create_collections(info)
        self._info = info

    def _create_collections(self, info: CollectionInfo) -> None:
        m = _models()
        frames, videos = self.names["frames"], self.names["videos"]
        if not self.client.collection_exists(videos):
            self.client.create_collection(
                videos, vectors_config=m.VectorParams(size=1, distance=m.Distance.DOT), **self.layout.videos_params()
            )
            for field in VIDEO_INDEXED_FIELDS:
                self.client.create_payload_index(videos, field, m.PayloadSchemaType.KEYWORD)
        index = self.index
        quantization = None
        if index.quantization:
            quantization = m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99, always_ram=True)
            )
        self.client.create_collection(
            frames,
            vectors_config=m.VectorParams(size=info.dim, distance=m.Distance.COSINE, on_disk=index.quantization),
            hnsw_config=m.HnswConfigDiff(
                m=index.m,
                ef_construct=index.ef_construct,
                full_scan_threshold=index.kilobytes(index.full_scan_frames, info.dim),
                max_indexing_threads=index.indexing_threads,
                on_disk=index.hnsw_on_disk,
                payload_m=index.payload_m,
            ),
            quantization_config=quantization,
            optimizers_config=m.OptimizersConfigDiff(indexing_threshold=index.kilobytes(index.index_min_frames, info.dim)),
            on_disk_payload=True,
            metadata=info.to_metadata(),
            **self.layout.frames_params(),
        )
        kinds = {"keyword": m.PayloadSchemaType.KEYWORD, "float": m.PayloadSchemaType.FLOAT}
        for name, kind in INDEXED_FIELDS.items():
            self.client.create_payload_index(frames, name, kinds[kind])

    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None:
        m = _models()
        points = [m.PointStruct(id=i, vector=v, payload=p) for i, v, p in zip(ids, vectors, payloads, strict=False)]
        with self._guard(f"writing {len(points)} {kind} points"):
            self.client.upsert(self.names[kind], points=points, wait=True)

    def _searches_graph(self) -> bool:
        return not self.local  # local mode scans exactly

    def _params(self, limit: int, wide: bool = False) -> Any:
        if self.local:
            return None  # local mode scans exactly: it has no index to tune
        m = _models()
        quantization = None
        if self.index.quantization:
            quantization = m.QuantizationSearchParams(rescore=True, oversampling=self.index.oversampling)
        return m.SearchParams(hnsw_ef=search_ef(self.hnsw_ef, limit, wide), quantization=quantization)

    def _query(
        self,
        vector: list[float],
        flt: SearchFilter,
        limit: int,
        threshold: float | None,
        wide: bool = False,
        fields: tuple[str, ...] = HIT_FIELDS,
    ) -> list[tuple[dict, float]]:
        with self._guard("searching"):
            result = self.client.query_points(
                self.names["frames"],
                query=vector,
                query_filter=_client_filter(flt),
                limit=limit,
                score_threshold=threshold,
                with_payload=list(fields),
                search_params=self._params(limit, wide),
            )
        return [(p.payload or {}, p.score) for p in result.points]

    def _query_batch(
        self, vector: list[float], requests: list[tuple[SearchFilter, int]], threshold: float | None, wide: bool = False
    ) -> list[list[tuple[dict, float]]]:
        m = _models()
        batch = [
            m.QueryRequest(
                query=vector,
                filter=_client_filter(flt),
                limit=limit,
                score_threshold=threshold,
                with_payload=list(HIT_FIELDS),
                params=self._params(limit, wide),
            )
            for flt, limit in requests
        ]
        with self._guard("searching"):
            answers = self.client.query_batch_points(self.names["frames"], requests=batch)
        return [[(p.payload or {}, p.score) for p in answer.points] for answer in answers]

    def index_status(self) -> IndexStatus:
        if self._read_info() is None:
            return IndexStatus(points=0, indexed=0)
        info = self.client.get_collection(self.names["frames"])
        points = int(info.points_count or 0)
        pending = str(getattr(info.status, "value", info.status)) != "green"
        return IndexStatus(points=points, indexed=int(info.indexed_vectors_count or 0), pending=pending and not self.local)

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """A Qdrant server indexes new points in the background by itself: wait until it reports the collection
        green (optimizations done). qdrant-client's local mode has no index (it scans), so there is nothing to wait for."""
        status = self.index_status()
        deadline = time.monotonic() + INDEX_WAIT_S
        while True:
            if progress:
                progress(status)
            if not status.pending or time.monotonic() > deadline:
                return status
            time.sleep(INDEX_POLL_S)
            status = self.index_status()

    def _delete(self, kind: Kind, flt: SearchFilter) -> None:
        m = _models()
        condition = _client_filter(flt)
        if condition is None:
            raise ValueError("refusing to delete without a filter")
        with self._guard(f"deleting {kind} points"):
            self.client.delete(self.names[kind], points_selector=m.FilterSelector(filter=condition), wait=True)

    def _set_run(self, flt: SearchFilter, run: str) -> None:
        condition = _client_filter(flt)
        if condition is None:
            raise ValueError("refusing to retag without a filter")
        with self._guard("moving frame points to another run"):
            self.client.set_payload(self.names["frames"], payload={RUN: run}, points=condition, wait=True)

    def _scroll(
        self, kind: Kind, flt: SearchFilter, with_vectors: bool = False, fields: tuple[str, ...] | None = None
    ) -> Iterator[StoredPoint]:
        offset = None
        while True:
            with self._guard(f"reading {kind}"):
                records, offset = self.client.scroll(
                    self.names[kind],
                    scroll_filter=_client_filter(flt),
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=list(fields) if fields is not None else True,
                    with_vectors=with_vectors,
                )
            for r in records:
                yield StoredPoint(str(r.id), r.payload or {}, _vector(r.vector) if with_vectors else None)
            if offset is None:
                return

    def _count(self, kind: Kind, flt: SearchFilter) -> int:
        with self._guard(f"counting {kind}"):
            return int(self.client.count(self.names[kind], count_filter=_client_filter(flt), exact=True).count)

    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]:
        with self._guard(f"reading {kind}"):
            records = self.client.retrieve(self.names[kind], ids=ids, with_payload=True, with_vectors=with_vectors)
        return [StoredPoint(str(r.id), r.payload or {}, _vector(r.vector) if with_vectors else None) for r in records]

    def _facet(self, key: str, flt: SearchFilter) -> dict[str, int]:
        with self._guard(f"counting frames by {key}"):
            response = self.client.facet(
                self.names["frames"], key=key, facet_filter=_client_filter(flt), limit=FACET_LIMIT, exact=True
            )
        counts = {str(hit.value): int(hit.count) for hit in response.hits}
        if key == RUN:  # qdrant-client's local mode writes values that parse as UUIDs with hyphens; run ids have none
            counts = {value.replace("-", ""): n for value, n in counts.items()}
        return counts

    def close(self) -> None:
        self.client.close()
