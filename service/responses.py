"""Response models of the HTTP API that wrap the core's own (search answers, video records, job records)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from framesearch.search.scale import ThresholdScale
from framesearch.store.schema import VideoRecord
from framesearch.validation import VideoId

VideoIdPath = Annotated[VideoId, Path(description="A video's id in the library (not empty, not blank).")]
"""A video id in a route's path: an empty or blank one (`DELETE /videos/`) is a 422, never "every video"."""


class ErrorAnswer(BaseModel):
    """Every 4xx and 5xx answer: the error's name and a sentence saying what is wrong."""

    error: str
    detail: str


class Health(BaseModel):
    """The service is up; with a key (or on a service without keys) also what it holds. Never where."""

    status: str
    store: str | None = Field(default=None, description="The kind of store and its collection (with a key).")
    model: str | None = None
    frames: int | None = Field(default=None, description="Searchable frames (with a key).")
    indexed_frames: int | None = Field(
        default=None, description="Frames in segments with an HNSW index (small segments are scanned)."
    )
    index: str | None = Field(default=None, description="The index state in words, as `store info` and ingest say it.")
    indexing: bool | None = Field(default=None, description="A search index build is running in the background.")


class VideoList(BaseModel):
    """One page of the library (GET /videos): its records, how many they are, how many match in all, and the
    cursor of the next page (None on the last)."""

    count: int = Field(description="Videos on this page.")
    total: int = Field(description="Videos matching in the whole library.")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; absent on the last page.")
    videos: list[VideoRecord]


class CollectionList(BaseModel):
    """The collections of the service's library (one model's vectors each) and the one this service serves."""

    collections: list[str]
    current: str = Field(description="The collection this service searches and indexes into (`--collection`).")


class Deleted(BaseModel):
    video_id: str
    deleted_frames: int


class PageConfig(BaseModel):
    """What the search page needs to know of the service: its model, library size, threshold scale, abilities."""

    model: str | None = Field(description="The collection's model (or the configured one when the library is empty).")
    videos: int
    frames: int
    threshold: ThresholdScale = Field(description="The scale and default a search uses when it names no threshold.")
    cosine: ThresholdScale = Field(description="The raw cosine scale (`threshold`), for searches that name one.")
    image_search: bool = Field(description="Whether query images (and local ingest jobs) can be embedded.")
    image_search_detail: str | None = Field(default=None, description="Why not, when they cannot.")


class PlaybackPreparing(BaseModel):
    """A browser-playable copy of the video is being made: ask again in a moment (Retry-After)."""

    status: Literal["preparing", "queued"]
    progress: float | None = Field(description="0-1, when the video's length is known.")
    detail: str


# OpenAPI `responses` of every route (FastAPI's type: dict[int | str, dict[str, Any]])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorAnswer} for code in (400, 404, 409, 413, 422, 423, 502, 503, 507)}
