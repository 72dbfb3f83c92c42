"""Pages of the library's records: matched by text or id prefix, sorted, cut at an offset (plain functions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from framesearch.store.schema import VideoRecord

VideoSort = Literal["name", "indexed", "duration"]
SORTS: tuple[VideoSort, ...] = ("name", "indexed", "duration")


def matches(record: VideoRecord, text: str) -> bool:
    """The text (any case) is in the video's id or in one of its paths."""
    needle = text.casefold()
    return any(needle in s.casefold() for s in (record.video_id, *record.known_paths()))


def in_order(records: list[VideoRecord], sort: VideoSort) -> list[VideoRecord]:
    """Name: A to Z; indexed: newest first; duration: longest first (ties by id, so pages never overlap)."""
    records = sorted(records, key=lambda r: r.video_id)
    if sort == "indexed":
        records.sort(key=lambda r: r.indexed_at or "", reverse=True)  # stable: ties stay in id order
    elif sort == "duration":
        records.sort(key=lambda r: r.duration or 0.0, reverse=True)
    return records


def page_of(
    records: Iterable[VideoRecord],
    *,
    limit: int | None = None,
    offset: int = 0,
    match: str | None = None,
    under: str | None = None,
    sort: VideoSort = "name",
) -> tuple[int, list[VideoRecord]]:
    """The number of records matching (`match`: text in the id or a path; `under`: an id prefix) and the page of
    them from `offset`, at most `limit` (None: all), in the `sort` order."""
    chosen = [r for r in records if (not under or r.video_id.startswith(under)) and (not match or matches(r, match))]
    chosen = in_order(chosen, sort)
    end = None if limit is None else offset + limit
    return len(chosen), chosen[offset:end]
