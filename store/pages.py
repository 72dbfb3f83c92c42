"""The library's records read as a whole: pages (matched by text or id prefix, sorted, cut at an offset), the
listing a store keeps of them write by write, totals, and which videos' files are gone."""

from __future__ import annotations

import bisect
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from framesearch.store.schema import VideoRecord

VideoSort = Literal["name", "indexed", "duration"]
SORTS: tuple[VideoSort, ...] = ("name", "indexed", "duration")


def matches(record: VideoRecord, text: str) -> bool:
    """The text (any case) is in the video's id or in one of its paths."""
    needle = text.casefold()
    return any(needle in s.casefold() for s in (record.video_id, *record.known_paths()))


_APART = "\0"  # between the id and paths in a record's searchable text (no id or path holds it)


def _searchable(record: VideoRecord) -> str:
    """The record's id and paths in one folded string: `matches` as one `in` (for a text without _APART)."""
    return _APART.join((record.video_id, *record.known_paths())).casefold()


@dataclass(frozen=True, slots=True)
class _Reversed:
    """A string that sorts backwards (the newest date first in an ascending order)."""

    value: str

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value


def _seconds(record: VideoRecord) -> float:
    d = record.duration
    return 0.0 if d is None or math.isnan(d) else d


# Each order as one ascending key, unique per video (the id breaks ties, so pages never overlap): name A to Z,
# indexed newest first, duration longest first.
SORT_KEYS: dict[VideoSort, Callable[[VideoRecord], tuple]] = {
    "name": lambda r: (r.video_id,),
    "indexed": lambda r: (_Reversed(r.indexed_at or ""), r.video_id),
    "duration": lambda r: (-_seconds(r), r.video_id),
}


def in_order(records: Iterable[VideoRecord], sort: VideoSort) -> list[VideoRecord]:
    """Name: A to Z; indexed: newest first; duration: longest first (ties by id, so pages never overlap)."""
    return sorted(records, key=SORT_KEYS[sort])


def _chosen(record: VideoRecord, match: str | None, under: str | None) -> bool:
    return (not under or record.video_id.startswith(under)) and (not match or matches(record, match))


MATCHED_KEPT = 16  # matched lists kept between changes (a picker typing, pages of a search)


class _Order:
    """The records in one sort order, with their ids and searchable texts at the same places (a match or a prefix
    scans plain strings, not records)."""

    def __init__(self, records: list[VideoRecord], texts: dict[str, str]) -> None:
        self.records = records
        self.ids = [r.video_id for r in records]
        self.texts = [texts[i] for i in self.ids]

    def insert(self, at: int, record: VideoRecord, text: str) -> None:
        self.records.insert(at, record)
        self.ids.insert(at, record.video_id)
        self.texts.insert(at, text)

    def delete(self, at: int) -> None:
        del self.records[at], self.ids[at], self.texts[at]


class Listing:
    """The library's records in every sort order, kept up to date record by record as the store writes them: a
    write moves one record in each order (a bisect, no resort), so the first page after a write costs what any
    page costs. Matched lists (text, id prefix) are kept until the next change. Thread-safe."""

    def __init__(self, records: Iterable[VideoRecord]) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, VideoRecord] = {r.video_id: r for r in records}
        texts = {video_id: _searchable(r) for video_id, r in self._by_id.items()}
        self._orders: dict[VideoSort, _Order] = {s: _Order(in_order(self._by_id.values(), s), texts) for s in SORTS}
        self._matched: dict[tuple[str | None, str | None, VideoSort], list[VideoRecord]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def records(self) -> list[VideoRecord]:
        """Every record, by video id."""
        with self._lock:
            return list(self._orders["name"].records)

    def put(self, record: VideoRecord) -> None:
        """A video's record written (new, or replacing the one it had)."""
        text = _searchable(record)
        with self._lock:
            self._remove(record.video_id)
            self._by_id[record.video_id] = record
            for sort, order in self._orders.items():
                key = SORT_KEYS[sort]
                order.insert(bisect.bisect_left(order.records, key(record), key=key), record, text)
            self._matched.clear()

    def drop(self, video_id: str) -> None:
        """A video's record deleted (nothing if it had none)."""
        with self._lock:
            if self._remove(video_id):
                self._matched.clear()

    def _remove(self, video_id: str) -> bool:
        old = self._by_id.pop(video_id, None)
        if old is None:
            return False
        for sort, order in self._orders.items():
            key = SORT_KEYS[sort]
            at = bisect.bisect_left(order.records, key(old), key=key)
            if at >= len(order.ids) or order.ids[at] != video_id:  # (cannot happen: keys are unique) the slow way
                at = order.ids.index(video_id)
            order.delete(at)
        return True

    def page(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        match: str | None = None,
        under: str | None = None,
        sort: VideoSort = "name",
    ) -> tuple[int, list[VideoRecord]]:
        """As `page_of` over these records, without sorting (nor matching, for a list kept since the last change)."""
        end = None if limit is None else offset + limit
        with self._lock:
            if not match and not under:
                chosen = self._orders[sort].records
            else:
                chosen = self._matched.get((match, under, sort))
                if chosen is None:
                    chosen = self._choose(self._orders[sort], match, under)
                    if len(self._matched) >= MATCHED_KEPT:
                        self._matched.pop(next(iter(self._matched)))
                    self._matched[(match, under, sort)] = chosen
            return len(chosen), chosen[offset:end]

    def _choose(self, order: _Order, match: str | None, under: str | None) -> list[VideoRecord]:
        """`_chosen` over an order, scanning its ids and folded texts (the ids in name order by bisect)."""
        ids, texts = order.ids, order.texts
        if not under:
            places: Iterable[int] = range(len(ids))
        elif order is self._orders["name"]:  # the ids under a prefix are together, from where the prefix would be
            first = bisect.bisect_left(ids, under)
            places = itertools.takewhile(lambda i: ids[i].startswith(under), range(first, len(ids)))
        else:
            places = [i for i, video_id in enumerate(ids) if video_id.startswith(under)]
        if match and _APART in match:
            return [order.records[i] for i in places if matches(order.records[i], match)]
        if match and under:
            needle = match.casefold()
            places = [i for i in places if needle in texts[i]]
        elif match:
            needle = match.casefold()
            places = [i for i, text in enumerate(texts) if needle in text]
        return [order.records[i] for i in places]


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
    chosen = in_order((r for r in records if _chosen(r, match, under)), sort)
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
