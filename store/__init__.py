"""The Qdrant point schema and the two store backends (Qdrant Edge, qdrant-client)."""

from framesearch.store.base import SearchFilter, VectorStore
from framesearch.store.open import open_store
from framesearch.store.schema import CollectionInfo, FrameHit, FramePoint, VideoRecord, point_id

__all__ = [
    "CollectionInfo",
    "FrameHit",
    "FramePoint",
    "SearchFilter",
    "VectorStore",
    "VideoRecord",
    "open_store",
    "point_id",
]
