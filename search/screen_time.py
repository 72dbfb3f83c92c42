"""Screen time: how long something is on screen, per video, or per hour or day of wall-clock time.

The totals are made of the moments a search answers (search/core.py `search`, every page of it): a video's
seconds are the sum of its matching moments' durations (end - start), so `stats` and `search` never disagree.
By hour or day, a live stream's moment counts where it aired (its `start_utc`/`end_utc`, split at the bucket
edges); a file's moments count at the hour or day the file was indexed (its record's `indexed_at`). `since` and
`until` (wall-clock, UTC) keep what aired (or, for files, was indexed) between them, cutting moments at the edges.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from framesearch.embedders.base import TextEmbedder
from framesearch.errors import NotFound
from framesearch.search.core import search
from framesearch.search.models import MAX_NEGATIVES, Confidence, SearchRequest, Segment
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.validation import MAX_LIMIT, QueryText, Seconds, VideoId

By = Literal["video", "hour", "day"]
MAX_PAGES = 1000  # pages of MAX_LIMIT moments read for one total


class StatsRequest(BaseModel):
    """What to total: a text query (with a search's floor, negatives and video filter), a time range, a grouping."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: QueryText = Field(description="What to measure, in words.")
    video_id: list[VideoId] = Field(default_factory=list, max_length=MAX_LIMIT, description="Only these videos or streams.")
    min_confidence: Confidence | None = Field(default=None, description="Calibrated confidence floor (default: the setting).")
    negatives: list[QueryText] = Field(
        default_factory=list, alias="not", max_length=MAX_NEGATIVES, description="As a search's `not`."
    )
    t_min: Seconds | None = Field(default=None, description="Only moments at or after this time of the video (s).")
    t_max: Seconds | None = Field(default=None, description="Only moments at or before this time of the video (s).")
    since: AwareDatetime | None = Field(
        default=None, description="Only what aired (streams) or was indexed (files) from then (UTC)."
    )
    until: AwareDatetime | None = Field(default=None, description="...until then.")
    by: By = Field(default="video", description="Totals per `video`, or per `hour` or `day` of wall-clock time (UTC).")
    format: Literal["json", "csv"] = Field(default="json", description="Answer as JSON or CSV.")

    @model_validator(mode="after")
    def _ranges(self) -> StatsRequest:
        self.q = self.q.strip()
        if not self.q:
            raise ValueError("the text query is blank")
        if self.t_min is not None and self.t_max is not None and self.t_min > self.t_max:
            raise ValueError(f"the time range is empty: from {self.t_min:g} s to {self.t_max:g} s")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("the wall-clock range is empty: `since` is after `until`")
        return self


class StatsRow(BaseModel):
    key: str = Field(description="The video id, or the hour or day (UTC, ISO 8601) the row totals.")
    seconds: float = Field(description="Seconds on screen: the sum of the moments' durations.")
    moments: int


class StatsResponse(BaseModel):
    query: str
    by: By
    min_confidence: float | None
    total_seconds: float
    moments: int
    rows: list[StatsRow]


def all_moments(store: VectorStore, req: StatsRequest, settings: Settings, embedder: TextEmbedder) -> Iterator[Segment]:
    """Every moment the search answers, page after page."""
    cursor = None
    for _ in range(MAX_PAGES):
        request = SearchRequest.model_validate(
            {
                "q": req.q,
                "video_id": req.video_id,
                "t_min": req.t_min,
                "t_max": req.t_max,
                "min_confidence": req.min_confidence,
                "not": req.negatives,
                "limit": MAX_LIMIT,
                "cursor": cursor,
            }
        )
        answer = search(store, request, settings, embedder)
        yield from (r for r in answer.results if isinstance(r, Segment))
        cursor = answer.next_cursor
        if cursor is None:
            return


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _bucket(when: datetime, by: By) -> datetime:
    when = when.astimezone(UTC)
    return (
        when.replace(minute=0, second=0, microsecond=0)
        if by == "hour"
        else when.replace(hour=0, minute=0, second=0, microsecond=0)
    )


def _spread(start: datetime, seconds: float, by: By) -> Iterator[tuple[datetime, float]]:
    """`seconds` from `start` split at the hour or day edges they cross."""
    left, at = seconds, start
    step = timedelta(hours=1) if by == "hour" else timedelta(days=1)
    while left > 1e-9:
        edge = _bucket(at, by) + step
        part = min(left, (edge - at).total_seconds())
        yield _bucket(at, by), part
        left -= part
        at = edge


def _clip(start: datetime, seconds: float, req: StatsRequest) -> tuple[datetime, float]:
    end = start + timedelta(seconds=seconds)
    if req.since is not None and start < req.since:
        start = req.since
    if req.until is not None and end > req.until:
        end = req.until
    return start, max((end - start).total_seconds(), 0.0)


def screen_time(store: VectorStore, req: StatsRequest, settings: Settings, embedder: TextEmbedder) -> StatsResponse:
    """The totals of `req` (see the module's docstring)."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    indexed: dict[str, datetime | None] = {}
    floor = None
    wall = req.by != "video" or req.since is not None or req.until is not None
    for moment in all_moments(store, req, settings, embedder):
        duration = moment.end - moment.start
        if not wall:
            seconds[moment.video_id] += duration
            counts[moment.video_id] += 1
            continue
        start = _utc(moment.start_utc)
        if start is None:  # a file: when it was indexed
            if moment.video_id not in indexed:
                try:
                    indexed[moment.video_id] = _utc(store.get_video(moment.video_id).indexed_at)
                except NotFound:
                    indexed[moment.video_id] = None
            at = indexed[moment.video_id]
            if at is None or (req.since is not None and at < req.since) or (req.until is not None and at > req.until):
                continue
            pieces = [(_bucket(at, req.by), duration)] if req.by != "video" else [(at, duration)]
        else:
            start, duration = _clip(start, duration, req)
            if duration <= 0:
                continue
            pieces = list(_spread(start, duration, req.by)) if req.by != "video" else [(start, duration)]
        for bucket, part in pieces:
            key = moment.video_id if req.by == "video" else bucket.isoformat().replace("+00:00", "Z")
            seconds[key] += part
        counts[moment.video_id if req.by == "video" else pieces[0][0].isoformat().replace("+00:00", "Z")] += 1
    floor = req.min_confidence if req.min_confidence is not None else settings.min_confidence
    rows = [StatsRow(key=k, seconds=round(seconds[k], 4), moments=counts.get(k, 0)) for k in sorted(seconds)]
    return StatsResponse(
        query=req.q,
        by=req.by,
        min_confidence=floor,
        total_seconds=round(sum(seconds.values()), 4),
        moments=sum(counts.values()),
        rows=rows,
    )


def stats_csv(answer: StatsResponse) -> str:
    """The totals as CSV: one row per video (or hour, or day), then the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([answer.by, "seconds", "moments"])
    for row in answer.rows:
        writer.writerow([row.key, f"{row.seconds:.4f}", row.moments])
    writer.writerow(["total", f"{answer.total_seconds:.4f}", answer.moments])
    return buffer.getvalue()
