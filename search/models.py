"""Request and response models of search: validated once here, built by the CLI and the HTTP API alike."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from framesearch.validation import MAX_LIMIT, MAX_VECTOR_DIM, FiniteFloat, Limit, QueryText, Seconds, Threshold, VideoId

Mode = Literal["segments", "frames"]


class SearchFilters(BaseModel):
    """Where to look and how many: the filters every search takes."""

    model_config = ConfigDict(extra="forbid")

    video_id: list[VideoId] = Field(default_factory=list, max_length=MAX_LIMIT, description="Only these videos.")
    t_min: Seconds | None = Field(None, description="Only frames at or after this time (s).")
    t_max: Seconds | None = Field(None, description="Only frames at or before this time (s).")
    threshold: Threshold | None = Field(None, description="Cosine score floor; default: the setting, else the model's.")
    limit: Limit | None = Field(None, description="Most results; default: the `limit` setting (20).")
    mode: Mode = Field("segments", description="`segments` (moments) or `frames`.")

    @model_validator(mode="after")
    def _time_range(self) -> SearchFilters:
        if self.t_min is not None and self.t_max is not None and self.t_min > self.t_max:
            raise ValueError(f"the time range is empty: from {self.t_min:g} s to {self.t_max:g} s")
        return self


class SearchRequest(SearchFilters):
    """A search by text `q` or by a raw `vector` of the collection's model, with filters."""

    q: QueryText | None = Field(None, description="What to find, in words.")
    vector: list[FiniteFloat] | None = Field(
        None, min_length=1, max_length=MAX_VECTOR_DIM, description="A query vector of the collection's model."
    )

    @model_validator(mode="after")
    def _one_query(self) -> SearchRequest:
        if self.q is not None:
            self.q = self.q.strip() or None
            if self.q is None:
                raise ValueError("the text query is blank")
        if (self.q is None) == (self.vector is None):
            raise ValueError("give either a text query or a query vector, not both or neither")
        return self


class FrameRef(BaseModel):
    """One stored frame of one video."""

    model_config = ConfigDict(extra="forbid")

    video_id: VideoId
    frame: int = Field(ge=0, le=2**53)


class SimilarRequest(SearchFilters):
    """More like this: the stored vector of frame `like` is the query, with the filters of a search."""

    like: FrameRef


class FrameScore(BaseModel):
    """A frame inside a segment."""

    frame: int
    timestamp: float
    score: float


class FrameMatch(FrameScore):
    """A matching frame (frames mode)."""

    video_id: str


class Segment(BaseModel):
    """A time range of one video where the query matches; `score` is its best frame's."""

    video_id: str
    start: float
    end: float
    score: float
    peak_time: float
    peak_frame: int
    frame_count: int
    frames: list[FrameScore]


class SearchResponse(BaseModel):
    """Ranked segments (or frames), best first, with the threshold and model that produced them."""

    query: str | None
    mode: Mode
    threshold: float
    model: str | None
    count: int
    results: list[Segment] | list[FrameMatch]
