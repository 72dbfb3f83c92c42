"""qdrant-client backend: a Qdrant server or cluster (URL), or qdrant-client's local mode (a path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from framesearch.errors import StoreError
from framesearch.store.base import Kind, SearchFilter, StoredPoint, VectorStore
from framesearch.store.cluster import Layout
from framesearch.store.schema import HNSW_EF, INDEXED_FIELDS, RUN, TIMESTAMP, VIDEO_ID, CollectionInfo

SCROLL_PAGE = 1000


def _models():
    from qdrant_client import models

    return models


def _client_filter(flt: SearchFilter) -> Any:
    m = _models()
    must: list[Any] = []
    if flt.video_ids:
        must.append(m.FieldCondition(key=VIDEO_ID, match=m.MatchAny(any=list(flt.video_ids))))
    if flt.t_min is not None or flt.t_max is not None:
        must.append(m.FieldCondition(key=TIMESTAMP, range=m.Range(gte=flt.t_min, lte=flt.t_max)))
    must_not = [m.FieldCondition(key=RUN, match=m.MatchValue(value=flt.not_run))] if flt.not_run else None
    if not must and not must_not:
        return None
    return m.Filter(must=must or None, must_not=must_not)


class ClientStore(VectorStore):
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
    ) -> None:
        from qdrant_client import QdrantClient

        self.names = {"frames": collection, "videos": f"{collection}_videos"}
        self.layout = layout or Layout()
        where = url or path or "memory"
        self.description = f"Qdrant at {where} (collection {collection!r})"
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

    def _fetch_info(self) -> CollectionInfo | None:
        name = self.names["frames"]
        if not self.client.collection_exists(name):
            return None
        meta = self.client.get_collection(name).config.metadata
        info = CollectionInfo.from_metadata(meta)
        if info is None:
            raise StoreError(f"collection {name!r} at {self.description} was not made by framesearch")
        return info

    def _read_info(self) -> CollectionInfo | None:
        if self._info is None:
            self._info = self._fetch_info()
        return self._info

    def _create(self, info: CollectionInfo) -> None:
        m = _models()
        frames, videos = self.names["frames"], self.names["videos"]
        if not self.client.collection_exists(videos):
            self.client.create_collection(
                videos, vectors_config=m.VectorParams(size=1, distance=m.Distance.DOT), **self.layout.videos_params()
            )
            self.client.create_payload_index(videos, VIDEO_ID, m.PayloadSchemaType.KEYWORD)
        self.client.create_collection(
            frames,
            vectors_config=m.VectorParams(size=info.dim, distance=m.Distance.COSINE),
            on_disk_payload=True,
            metadata=info.to_metadata(),
            **self.layout.frames_params(),
        )
        kinds = {"keyword": m.PayloadSchemaType.KEYWORD, "float": m.PayloadSchemaType.FLOAT}
        for name, kind in INDEXED_FIELDS.items():
            self.client.create_payload_index(frames, name, kinds[kind])
        self._info = info

    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None:
        m = _models()
        points = [m.PointStruct(id=i, vector=v, payload=p) for i, v, p in zip(ids, vectors, payloads, strict=False)]
        self.client.upsert(self.names[kind], points=points, wait=True)

    def _query(self, vector: list[float], flt: SearchFilter, limit: int, threshold: float | None) -> list[tuple[dict, float]]:
        result = self.client.query_points(
            self.names["frames"],
            query=vector,
            query_filter=_client_filter(flt),
            limit=limit,
            score_threshold=threshold,
            with_payload=True,
            search_params=_models().SearchParams(hnsw_ef=max(HNSW_EF, limit)),
        )
        return [(p.payload or {}, p.score) for p in result.points]

    def _delete(self, kind: Kind, flt: SearchFilter) -> None:
        m = _models()
        condition = _client_filter(flt)
        if condition is None:
            raise ValueError("refusing to delete without a filter")
        self.client.delete(self.names[kind], points_selector=m.FilterSelector(filter=condition), wait=True)

    def _scroll(self, kind: Kind, flt: SearchFilter, with_vectors: bool = False) -> Iterator[StoredPoint]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.names[kind],
                scroll_filter=_client_filter(flt),
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            for r in records:
                yield StoredPoint(str(r.id), r.payload or {}, list(r.vector) if with_vectors else None)
            if offset is None:
                return

    def _count(self, kind: Kind, flt: SearchFilter) -> int:
        return int(self.client.count(self.names[kind], count_filter=_client_filter(flt), exact=True).count)

    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]:
        records = self.client.retrieve(self.names[kind], ids=ids, with_payload=True, with_vectors=with_vectors)
        return [StoredPoint(str(r.id), r.payload or {}, list(r.vector) if with_vectors else None) for r in records]

    def close(self) -> None:
        self.client.close()
