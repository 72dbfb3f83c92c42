"""`VectorStore`: the store's interface, as the search core, ingest, the service and the CLI hold it.

Two kinds of object provide it: a `QdrantStore` (store/base.py: EdgeStore, ClientStore), and the service's
`HostedStore` (store/hosted.py), which forwards every method to a store process. pyright checks both against
this declaration; tests/test_store_contract.py runs the same contract on each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, Self

import numpy as np

from framesearch.store.filters import SearchFilter
from framesearch.store.pages import VideoSort
from framesearch.store.runs import CommitListener, Op, RunMarker
from framesearch.store.schema import CollectionInfo, FrameHit, IndexStatus, VideoRecord

if TYPE_CHECKING:
    from framesearch.store.writes import Run


class VectorStore(Protocol):
    """Frames and videos in Qdrant: searched, listed, and written one run per video (`run()`)."""

    description: str
    read_only: bool
    hnsw_ef: int
    index_builds_here: bool

    # the collection

    def info(self) -> CollectionInfo | None: ...

    def ensure_collection(self, model: str, dim: int, model_path: str | None = None) -> CollectionInfo: ...

    def ensure_space(self, frames: int, dim: int, what: str) -> None: ...

    # what searches see

    def library_version(self) -> Hashable | None: ...

    def search(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[FrameHit]: ...

    def search_videos(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[tuple[str, float]]: ...

    def search_batch(
        self, vector: np.ndarray, requests: Sequence[tuple[SearchFilter, int]], threshold: float | None = None
    ) -> list[list[FrameHit]]: ...

    def frame_vector(self, video_id: str, frame: int) -> np.ndarray: ...

    def frame_vectors(self, frames: Sequence[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]: ...

    def sample_vectors(self, size: int) -> np.ndarray: ...

    def video_frames(self, flt: SearchFilter) -> tuple[list[FrameHit], np.ndarray]: ...

    def frame_count(self, video_id: str | None = None) -> int: ...

    def stored_points(self) -> int: ...

    def frame_hits(self, video_id: str, run: str | None = None) -> list[FrameHit]: ...

    # the library

    def get_video(self, video_id: str) -> VideoRecord: ...

    def list_videos(self) -> list[VideoRecord]: ...

    def video_page(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        match: str | None = None,
        under: str | None = None,
        sort: VideoSort = "name",
    ) -> tuple[int, list[VideoRecord]]: ...

    def videos_where(self, *, content_hash: str | None = None, path: str | None = None) -> list[VideoRecord]: ...

    def put_video(self, record: VideoRecord) -> None: ...

    def delete_video(self, video_id: str) -> int: ...

    def run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> AbstractContextManager[Run]: ...

    def on_commit(self, listener: CommitListener) -> Callable[[], None]: ...

    def merge_chunks(self, video_id: str, expire_before: float | None = None) -> int: ...

    def run_markers(self, video_id: str | None = None) -> list[RunMarker]: ...

    def recover(self) -> list[RunMarker]: ...

    def verify(self) -> None: ...

    # the index and the files

    def index_status(self) -> IndexStatus: ...

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus: ...

    def flush(self) -> None: ...

    def checkpoint(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
