"""What a backend provides: the primitives over two Qdrant collections (frames, videos), and the state a store
keeps in this process (its runs in progress, its library version and what is cached against it).

`Backend` declares every primitive the write side (store/writes.py) and the read side (store/base.py) use;
EdgeStore and ClientStore implement them. The library version is the one cache mechanism of a store: a counter
bumped by every write that can change what searches see (a record, a run marker, a finished run, a delete);
reads of a store that only this process writes are kept until it moves, and `library_version()` lets caches
outside the store (the calibration sample) key on it. One read is not dropped but kept up to date by each write:
the listing of the library's records (store/pages.py), which a write changes by the records it wrote, so that
listing a library of 10,000 videos while it is being written never reads every record again.
"""

from __future__ import annotations

import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

from cachetools import LRUCache

from framesearch.errors import StoreReadOnly
from framesearch.store.filters import Kind, SearchFilter, StoredPoint
from framesearch.store.pages import Listing
from framesearch.store.runs import CommitListeners
from framesearch.store.schema import HIT_FIELDS, HNSW_EF, CollectionInfo, VideoRecord

T = TypeVar("T")
WIDE_QUERIES_KEPT = 256


class StoreState:
    """This process's runs in progress, and the library version with the reads kept against it."""

    def __init__(self) -> None:
        self.claim = threading.RLock()  # one claim of a video (or creation of the collection) at a time
        self.lock = threading.Lock()
        self.mine: set[str] = set()  # runs this process has in progress
        self.beats: dict[str, float] = {}  # when each of them last told other processes it is alive
        self.opening = uuid.uuid4().hex  # with the version: another opening of the store never reads as this one
        self.version = 0
        self.kept: dict[Hashable, Any] = {}  # reads at the current version (a store only this process writes)
        self.listing: Listing | None = None  # the records, kept up to date by each write (same stores)
        self.records = threading.Lock()  # a write of records and its change to the listing, one at a time
        self.listeners = CommitListeners()  # told of each committed run (store/writes.py)
        self.wide: LRUCache = LRUCache(maxsize=WIDE_QUERIES_KEPT)  # query vectors a search had to run wider


class Backend(ABC):
    """The primitives of a store over its frames and videos collections, and the store's state."""

    description: str = "store"
    read_only: bool = False
    exclusive: bool = False  # True when no other process can write this store (its reads are kept between writes)
    hnsw_ef: int = HNSW_EF  # search breadth (the `hnsw_ef` setting); the limit raises it for large limits
    adaptive_ef: bool = True  # run a search whose best hit scores low again, wider (store/schema.py `needs_wider`)
    index_builds_here: bool = False  # build_index() does the work in this process (else a server does it)

    @abstractmethod
    def _read_info(self) -> CollectionInfo | None: ...

    @abstractmethod
    def _create(self, info: CollectionInfo) -> None:
        """Create the frames collection (cosine, payload indexes, model metadata) and the videos one."""

    @abstractmethod
    def _upsert(self, kind: Kind, ids: list[str], vectors: list[list[float]], payloads: list[dict]) -> None: ...

    @abstractmethod
    def _query(
        self,
        vector: list[float],
        flt: SearchFilter,
        limit: int,
        threshold: float | None,
        wide: bool = False,
        fields: tuple[str, ...] = HIT_FIELDS,
    ) -> list[tuple[dict, float]]:
        """The best `limit` frames, with the payload `fields`; `wide`: search the graph WIDE_EF times wider
        (store/schema.py `search_ef`)."""

    def _query_batch(
        self, vector: list[float], requests: list[tuple[SearchFilter, int]], threshold: float | None, wide: bool = False
    ) -> list[list[tuple[dict, float]]]:
        """One query vector under several (filter, limit) pairs; backends with a batch call override this."""
        return [self._query(vector, flt, limit, threshold, wide) for flt, limit in requests]

    def _searches_graph(self) -> bool:
        """Whether searches may walk an HNSW graph (where none is built, every search is exact: nothing to widen)."""
        return True

    @abstractmethod
    def _delete(self, kind: Kind, flt: SearchFilter) -> None: ...

    def _set_run(self, flt: SearchFilter, run: str) -> None:
        """Tag the frame points matching `flt` with `run` (a live stream's chunks merged into its base run)."""
        raise NotImplementedError(f"{self.description} cannot move frame points between runs")

    @abstractmethod
    def _scroll(
        self, kind: Kind, flt: SearchFilter, with_vectors: bool = False, fields: tuple[str, ...] | None = None
    ) -> Iterator[StoredPoint]:
        """Points matching `flt`, with their payloads (only `fields` of them, when given) and vectors if asked."""

    @abstractmethod
    def _count(self, kind: Kind, flt: SearchFilter) -> int: ...

    @abstractmethod
    def _retrieve(self, kind: Kind, ids: list[str], with_vectors: bool = False) -> list[StoredPoint]: ...

    @abstractmethod
    def _facet(self, key: str, flt: SearchFilter) -> dict[str, int]:
        """Exact counts of frame points per value of a keyword payload field."""

    @abstractmethod
    def close(self) -> None: ...

    def flush(self) -> None:
        """Persist pending writes where the backend buffers them (Qdrant servers persist on their own)."""
        return None

    def checkpoint(self) -> None:
        """After a committed write: persist now or soon, as the backend sees fit (a flush unless it says otherwise)."""
        self.flush()

    def ensure_space(self, frames: int, dim: int, what: str) -> None:
        """Refuse (DiskFull) a write of `frames` points that the disk cannot hold; stores on a server skip this."""
        return None

    # the store's state (created lazily: backends need not call a base __init__)

    @property
    def _state(self) -> StoreState:
        state = vars(self).get("_store_state")
        if state is None:
            state = vars(self).setdefault("_store_state", StoreState())
        return state

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(f"{self.description} is read-only: it can be searched, not written")

    def _changed(self, *, put: VideoRecord | None = None, gone: str | None = None, same_records: bool = False) -> None:
        """After a write that may change what searches see: the library version moves, kept reads go. The listing
        of records takes the write's change instead: a record `put`, a video's record `gone`, or none
        (`same_records`: a run marker, frame points); any other write drops it (it is read again when asked)."""
        state = self._state
        with state.lock:
            state.version += 1
            state.kept.clear()
            if state.listing is None:
                return
            if put is not None:
                state.listing.put(put)
            elif gone is not None:
                state.listing.drop(gone)
            elif not same_records:
                state.listing = None

    def _listing(self, read: Callable[[], list[VideoRecord]]) -> Listing | None:
        """The library's records as `read()` gives them, kept (and changed write by write) where only this process
        writes the store; None where other processes may write it (every listing reads the records)."""
        if not self.exclusive:
            return None
        state = self._state
        with state.lock:
            if state.listing is not None:
                return state.listing
            version = state.version
        listing = Listing(read())
        with state.lock:
            if state.version == version and state.listing is None:  # nothing written while it was read
                state.listing = listing
        return listing

    def _kept(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`, kept until the library version moves where only this process writes the store."""
        if not self.exclusive:
            return read()
        state = self._state
        with state.lock:
            if key in state.kept:
                return state.kept[key]
            version = state.version
        value = read()
        with state.lock:
            if state.version == version:  # nothing was written while it was read: safe to keep
                state.kept[key] = value
        return value

    def library_version(self) -> Hashable | None:
        """A value that changes whenever what searches see may have changed, where the store can tell (one that
        only this process writes); None where it cannot (a server other processes write to)."""
        return (self._state.opening, self._state.version) if self.exclusive else None
