"""Response models of the HTTP API that wrap the core's own (search answers, video records, job records)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from framesearch.store.schema import VideoRecord


class ErrorAnswer(BaseModel):
    """Every 4xx and 5xx answer: the error's name and a sentence saying what is wrong."""

    error: str
    detail: str


class Health(BaseModel):
    status: str
    store: str
    model: str | None
    frames: int
    indexed_frames: int = Field(0, description="Frames in segments with an HNSW index (small segments are scanned).")
    indexing: bool = Field(False, description="A search index build is running in the background.")


class VideoList(BaseModel):
    count: int
    videos: list[VideoRecord]


class Deleted(BaseModel):
    video_id: str
    deleted_frames: int


ERRORS = {code: {"model": ErrorAnswer} for code in (400, 404, 409, 413, 422, 423, 502, 503)}
