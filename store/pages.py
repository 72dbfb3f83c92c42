"""The library's records read as a whole: pages (matched by text or id prefix, sorted, cut at an offset), totals,
and which videos' files are gone (plain functions)."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, Field

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


_ORDERS: weakref.WeakKeyDictionary[object, tuple[tuple, list[VideoRecord]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def store_page(
    store: object,
    version: object,
    records: Callable[[], Iterable[VideoRecord]],
    *,
    limit: int | None = None,
    offset: int = 0,
    match: str | None = None,
    under: str | None = None,
    sort: VideoSort = "name",
) -> tuple[int, list[VideoRecord]]:
    """`page_of` the store's records, keeping the last matched and sorted list per store while its library version
    (None: a store that cannot tell, never kept) stays the same: paging on through one listing costs one page."""
    key = (version, match, under, sort)
    with _LOCK:
        kept = _ORDERS.get(store) if version is not None else None
    if kept is not None and kept[0] == key:
        chosen = kept[1]
    else:
        chosen = page_of(records(), match=match, under=under, sort=sort)[1]
        if version is not None:
            with _LOCK:
                _ORDERS[store] = (key, chosen)
    end = None if limit is None else offset + limit
    return len(chosen), chosen[offset:end]


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


def is_missing(record: VideoRecord) -> bool:
    """A video whose every known file is gone from disk (a video known by no path, e.g. from results, is not)."""
    paths = record.known_paths()
    return bool(paths) and not any(os.path.exists(p) for p in paths)


class LibraryTotals(BaseModel):
    """What the library holds, in a person's units."""

    videos: int
    hours: float = Field(description="The videos' total duration in hours.")
    frames: int = Field(description="Frames indexed, as the records count them.")
    video_bytes: int = Field(description="Bytes of the videos' files still on disk (each video's first file found).")
    missing: int = Field(description="Videos whose files are all gone from disk (`videos delete --missing`).")


def totals(records: Iterable[VideoRecord]) -> LibraryTotals:
    videos = frames = size = missing = 0
    seconds = 0.0
    for record in records:
        videos += 1
        frames += record.frames
        seconds += record.duration or 0.0
        found = next((p for p in record.known_paths() if os.path.isfile(p)), None)
        if found:
            size += os.path.getsize(found)
        elif record.known_paths():
            missing += 1
    return LibraryTotals(videos=videos, hours=round(seconds / 3600, 4), frames=frames, video_bytes=size, missing=missing)
