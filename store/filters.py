"""What a store call selects: payload conditions (`SearchFilter`) and the points a scroll or lookup returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from framesearch.store.runs import Visibility

Kind = Literal["frames", "videos"]


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions: any of `video_ids`, a time range, points of one run (or of none of some), what is visible,
    in the videos collection records or run markers only, points that lost their vector, and none of the
    `exclude` ranges (video id, from s, to s) and of none of the
    `skip_videos`; in the videos collection, records by content hash or path."""

    video_ids: tuple[str, ...] = ()
    t_min: float | None = None
    t_max: float | None = None
    keep_runs: tuple[str, ...] = ()  # points (or markers) of none of these runs
    run: str | None = None
    runs: tuple[str, ...] = ()  # points of any of these runs (a video's committed runs)
    visible: Visibility | None = None
    entries: Literal["records", "markers"] | None = None
    vectorless: bool = False  # only points whose vector is missing (a damaged vector store)
    exclude: tuple[tuple[str, float, float], ...] = ()
    skip_videos: tuple[str, ...] = ()  # points of none of these videos
    content_hash: str | None = None  # in the videos collection: records of these bytes
    path: str | None = None  # in the videos collection: records known under this path (`path` or one of `paths`)


@dataclass(frozen=True)
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None
