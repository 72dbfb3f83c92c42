"""Request and response models of search: validated once here, built by the CLI and the HTTP API alike."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from framesearch.search.pages import MAX_CURSOR_CHARS
from framesearch.validation import MAX_LIMIT, MAX_VECTOR_DIM, FiniteFloat, Limit, QueryText, Seconds, Threshold, VideoId

Mode = Literal["segments", "frames"]
ResultKind = Literal["segments", "frames", "sequences"]
ThresholdKind = Literal["calibrated", "cosine"]
Format = Literal["json", "csv", "vtt", "edl"]
Confidence = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, description="A calibrated confidence (0-1).")]
MAX_NEGATIVES = 16
DEFAULT_WITHIN = 10.0


class SearchFilters(BaseModel):
    """Where to look and how many: the filters every search takes."""

    model_config = ConfigDict(extra="forbid")

    video_id: list[VideoId] = Field(default_factory=list, max_length=MAX_LIMIT, description="Only these videos.")
    under: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Only the videos whose id starts with this (e.g. `holidays/`)."
    )
    t_min: Seconds | None = Field(default=None, description="Only frames at or after this time (s).")
    t_max: Seconds | None = Field(default=None, description="Only frames at or before this time (s).")
    threshold: Threshold | None = Field(
        default=None, description="Raw cosine score floor; default: the calibrated `min_confidence` (see docs/search.md)."
    )
    min_confidence: Confidence | None = Field(
        default=None, description="Calibrated confidence floor (0-1); default: the `min_confidence` setting."
    )
    limit: Limit | None = Field(default=None, description="Most results per page; default: the `limit` setting (20).")
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        description="Where the page starts: the `next_cursor` of the page before (same query and filters).",
    )
    mode: Mode = Field(default="segments", description="`segments` (moments) or `frames`.")
    frames: bool = Field(
        default=False,
        description="List every frame of each moment (its `frames`); default: each moment's summary only, `frames` null.",
    )

    @model_validator(mode="after")
    def _time_range(self) -> SearchFilters:
        if self.t_min is not None and self.t_max is not None and self.t_min > self.t_max:
            raise ValueError(f"the time range is empty: from {self.t_min:g} s to {self.t_max:g} s")
        if self.threshold is not None and self.min_confidence is not None:
            raise ValueError("give a cosine threshold or a minimum confidence, not both")
        return self


class SearchRequest(SearchFilters):
    """A search by text `q` or by a raw `vector` of the collection's model, with filters."""

    q: QueryText | None = Field(default=None, description="What to find, in words.")
    vector: list[FiniteFloat] | None = Field(
        default=None, min_length=1, max_length=MAX_VECTOR_DIM, description="A query vector of the collection's model."
    )
    negatives: list[QueryText] = Field(
        default_factory=list,
        alias="not",
        max_length=MAX_NEGATIVES,
        description="Leave out frames that match any of these texts as well as the query (and moments mostly made of them).",
    )
    then: QueryText | None = Field(default=None, description="Find moments where the query is followed by this text.")
    within: Seconds | None = Field(
        default=None, description=f"Most seconds between the two parts of a `then` (default {DEFAULT_WITHIN:g})."
    )
    format: Format = Field(default="json", description="Answer as JSON, or as CSV, WebVTT or a CMX3600 EDL.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_query(self) -> SearchRequest:
        if self.q is not None:
            self.q = self.q.strip() or None
            if self.q is None:
                raise ValueError("the text query is blank")
        if (self.q is None) == (self.vector is None):
            raise ValueError("give either a text query or a query vector, not both or neither")
        self.negatives = [n.strip() for n in self.negatives]
        if not all(self.negatives):
            raise ValueError("a negative text is blank")
        if self.then is not None:
            self.then = self.then.strip() or None
            if self.then is None:
                raise ValueError("the `then` text is blank")
            if self.mode == "frames":
                raise ValueError("a sequence (`then`) is made of moments: it needs mode segments")
            if self.within is None:
                self.within = DEFAULT_WITHIN
        elif self.within is not None:
            raise ValueError("`within` bounds the gap before a `then` text: give one")
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
    """A frame inside a segment: its raw cosine `score` and calibrated `confidence` (0-1)."""

    frame: int
    timestamp: float
    score: float
    confidence: float | None = None
    wall_time: float | None = Field(default=None, description="Live streams: when the frame aired (Unix seconds, UTC).")


class FrameMatch(FrameScore):
    """A matching frame (frames mode); `utc`: when it aired, for a live stream (ISO 8601)."""

    video_id: str
    utc: str | None = None


class Segment(BaseModel):
    """A time range of one video where the query matches; `score` (raw cosine) and `confidence` are its best frame's.
    `start`/`end` are the enclosing shot cuts where the moment fills its shot, else half a sampling interval out.
    `frames` lists its frames (time order) when the request asks for them (`frames=true`), else is null."""

    video_id: str
    start: float
    end: float
    score: float
    confidence: float | None = None
    peak_time: float
    peak_frame: int
    frame_count: int
    frames: list[FrameScore] | None = Field(default=None, description="Its frames, with `frames=true`; else null.")
    start_utc: str | None = Field(default=None, description="Live streams: the wall-clock time (UTC, ISO 8601) of `start`.")
    end_utc: str | None = Field(default=None, description="Live streams: the wall-clock time (UTC, ISO 8601) of `end`.")
    # the frames' times of a moment built without its frames listed (search/retrieval.py): what its edges need
    _times: list[float] | None = PrivateAttr(default=None)


class SequenceMatch(BaseModel):
    """The query's moment (`first`) followed in the same video by the `then` text's moment within the gap.
    It spans from the first's start to the second's end; `score` is the mean of both parts' raw scores and
    `confidence` the lower of their confidences."""

    video_id: str
    start: float
    end: float
    score: float
    confidence: float | None
    peak_time: float
    gap: float
    first: Segment
    then: Segment


class SearchResponse(BaseModel):
    """Ranked segments (or frames, or sequences), best first, with the threshold and model that produced them.
    `threshold` is the raw cosine floor applied; `threshold_kind` says whether it came from the calibrated
    `min_confidence` or was a cosine threshold given as such (or the model's own, when the library is too
    small to calibrate)."""

    query: str | None
    mode: ResultKind
    threshold: float
    threshold_kind: ThresholdKind = "cosine"
    min_confidence: float | None = None
    model: str | None
    count: int
    results: list[Segment] | list[FrameMatch] | list[SequenceMatch]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` (same query and filters) for the next page; null on the last page."
    )


class TimelinePoint(BaseModel):
    """One indexed frame of a video scored against the query."""

    frame: int
    timestamp: float
    score: float
    confidence: float | None
    match: bool = Field(description="Above the threshold in force and not taken by a negative term.")


class Timeline(BaseModel):
    """Every indexed frame of one video (in time order) with its raw score and calibrated confidence for a query,
    for heatmaps and scripts; `threshold` (raw cosine) and `threshold_kind` are those a search would apply."""

    video_id: str
    query: str | None
    model: str | None
    threshold: float
    threshold_kind: ThresholdKind
    min_confidence: float | None
    duration: float | None
    cuts: list[float] | None
    count: int
    points: list[TimelinePoint]
