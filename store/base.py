"""The store interface: frame points and video records in Qdrant, whichever way Qdrant is reached.

Backends implement a handful of primitives over two collections (frames, videos); the frame and
video semantics (model check, stale sweep, records) live here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

import numpy as np

from framesearch.errors import InvalidInput, ModelMismatch, NotFound
from framesearch.store.schema import (
    HNSW_EF,
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

Kind = Literal["frames", "videos"]


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions: any of `video_ids`, a time range, points not written by run `not_run`, and none of
    the `exclude` ranges (video id, from s, to s)."""

    video_ids: tuple[str, ...] = ()
    t_min: float | None = None
    t_max: float | None = None
    not_run: str | None = None
    exclude: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None


class VectorStore(ABC):
    """Frames and videos in Qdrant. Subclasses provide the primitives below."""

    description: str = "store"
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
    def close(self) -> None: ...

    def flush(self) -> None:
        """Persist pending writes where the backend buffers them (Qdrant servers persist on their own)."""
        return None

    def index_status(self) -> IndexStatus:
        """Frames stored and frames covered by the HNSW index (backends without an index report none)."""
        count = self.frame_count()
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

    def info(self) -> CollectionInfo | None:
        """The model and dimension the collection was created for; None before the first ingest."""
        return self._read_info()

    def ensure_collection(self, model: str, dim: int, model_path: str | None = None) -> CollectionInfo:
        """Create the collection for `model` (recording where its folder is) or check it holds that model's vectors."""
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

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None:
        """Write frame points (idempotent: ids derive from video id and frame number)."""
        if not frames:
            return
        vectors = normalize(np.stack([f.vector for f in frames]))
        self._upsert("frames", [f.id for f in frames], vectors.tolist(), [f.payload(run) for f in frames])

    def sweep_stale(self, video_id: str, run: str) -> None:
        """Delete the video's points that the ingest `run` did not write (left from an older ingest)."""
        self._delete("frames", SearchFilter(video_ids=(video_id,), not_run=run))

    def search(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[FrameHit]:
        """Cosine ANN search over frames, best first."""
        info = self._read_info()
        if info is None:
            return []
        rows = self._query(self._query_vector(vector, info), flt, limit, threshold)
        return [FrameHit.from_payload(payload, score) for payload, score in rows]

    def search_batch(
        self, vector: np.ndarray, requests: Sequence[tuple[SearchFilter, int]], threshold: float | None = None
    ) -> list[list[FrameHit]]:
        """The same query vector under several (filter, limit) pairs, in one call where the backend allows."""
        info = self._read_info()
        if info is None or not requests:
            return [[] for _ in requests]
        vec = self._query_vector(vector, info)
        answers = self._query_batch(vec, list(requests), threshold)
        return [[FrameHit.from_payload(payload, score) for payload, score in rows] for rows in answers]

    def _query_vector(self, vector: np.ndarray, info: CollectionInfo) -> list[float]:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != info.dim:
            raise InvalidInput(f"query vector has {vec.shape[0]} dimensions; the collection's have {info.dim}")
        return normalize(vec).tolist()

    def frame_vector(self, video_id: str, frame: int) -> np.ndarray:
        """The stored vector of one frame (for 'more like this')."""
        found = self._retrieve("frames", [point_id(video_id, frame)], with_vectors=True) if self._read_info() else []
        if not found or found[0].vector is None:
            raise NotFound(f"no frame {frame} of video {video_id!r} in {self.description}")
        return np.asarray(found[0].vector, dtype=np.float32)

    def sample_vectors(self, size: int) -> np.ndarray:
        """The vectors of the first `size` frames in point-id order: a fixed pseudo-random sample of the library
        (ids are hashes), which follows it as videos come and go."""
        if self._read_info() is None:
            return np.zeros((0, 0), dtype=np.float32)
        rows = [p.vector for p in islice(self._scroll("frames", SearchFilter(), with_vectors=True), size) if p.vector]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    def frame_vectors(self, frames: Sequence[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of the given (video id, frame) pairs that exist."""
        if not frames or self._read_info() is None:
            return {}
        wanted = {point_id(v, f): (v, int(f)) for v, f in frames}
        found = self._retrieve("frames", list(wanted), with_vectors=True)
        return {wanted[p.id]: np.asarray(p.vector, dtype=np.float32) for p in found if p.vector and p.id in wanted}

    def video_frames(self, flt: SearchFilter) -> tuple[list[FrameHit], np.ndarray]:
        """Every stored frame matching `flt` with its vector, in time order (for timelines)."""
        if self._read_info() is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        points = sorted(self._scroll("frames", flt, with_vectors=True), key=lambda p: float(p.payload.get(TIMESTAMP, 0)))
        hits = [FrameHit.from_payload(p.payload, 0.0) for p in points]
        return hits, np.asarray([p.vector for p in points], dtype=np.float32).reshape(len(points), -1)

    def frame_count(self, video_id: str | None = None) -> int:
        if self._read_info() is None:
            return 0
        return self._count("frames", SearchFilter(video_ids=(video_id,) if video_id else ()))

    def frame_hits(self, video_id: str) -> list[FrameHit]:
        """Every stored frame of a video, in time order (score 0)."""
        if self._read_info() is None:
            return []
        points = self._scroll("frames", SearchFilter(video_ids=(video_id,)))
        return sorted((FrameHit.from_payload(p.payload, 0.0) for p in points), key=lambda h: h.timestamp)

    def put_video(self, record: VideoRecord) -> None:
        self._upsert("videos", [video_point_id(record.video_id)], [[1.0]], [record.to_payload()])

    def get_video(self, video_id: str) -> VideoRecord:
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found:
            raise NotFound(f"no video {video_id!r} in {self.description}")
        return VideoRecord.from_payload(found[0].payload)

    def list_videos(self) -> list[VideoRecord]:
        if self._read_info() is None:
            return []
        records = [VideoRecord.from_payload(p.payload) for p in self._scroll("videos", SearchFilter())]
        return sorted(records, key=lambda r: r.video_id)

    def delete_video(self, video_id: str) -> int:
        """Delete a video's frames and record; returns the number of frames deleted."""
        frames = self.frame_count(video_id)
        known = bool(self._read_info()) and bool(self._retrieve("videos", [video_point_id(video_id)]))
        if not frames and not known:
            raise NotFound(f"no video {video_id!r} in {self.description}")
        self._delete("frames", SearchFilter(video_ids=(video_id,)))
        self._delete("videos", SearchFilter(video_ids=(video_id,)))
        return frames

    def video_points(self, video_id: str) -> Iterator[StoredPoint]:
        """Every stored point of a video as it is (id, payload, vector), in no order: for copying a library."""
        if self._read_info() is None:
            return iter(())
        return self._scroll("frames", SearchFilter(video_ids=(video_id,)), with_vectors=True)

    def put_points(self, points: Sequence[StoredPoint]) -> None:
        """Write points exactly as another store holds them (same ids, payloads, vectors); the collection must exist."""
        if points:
            self._upsert("frames", [p.id for p in points], [list(p.vector or ()) for p in points], [p.payload for p in points])


__all__ = ["Kind", "SearchFilter", "StoredPoint", "VectorStore"]
