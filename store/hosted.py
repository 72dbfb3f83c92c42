"""A store held by a child process, for the service: the engine's work never holds the service's interpreter.

`qdrant-edge-py` keeps the GIL for the whole of each call (a search, an upsert, an index build of many
seconds), so a service calling it in threads still stalls its event loop, and /healthz with it. Here the
service talks to the store through a pipe: calls are forwarded one at a time (Edge serves one at a time in
any case), the calling thread waits on the pipe with the GIL released, and the event loop keeps answering.

`HostedStore` provides the store's declared interface (`VectorStore`, store/api.py, and the run steps of
`RunStore`, store/writes.py) method by method. `info()` answers from what the proxy last saw, and `frame_count()`
and `index_status()` do when the store is busy, so searches and health checks never wait for the engine for them.
Those answers are refreshed only by the calls that can change them (`REFRESHES`), in the store process and sent
back with the call's answer: no extra round trip. Every answer also carries the store's library version, so
`library_version()` (asked by every calibrated search) needs no call at all.

An index build is made on a copy of the frames shard by a child process at a lower CPU priority, and swapped in
when done (store/edge_build.py): the store process goes on answering searches and writes meanwhile, and searches keep
most of their speed (docs/performance.md); `build_index()` waits for it by asking every `BUILD_POLL_S` if it is done.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Self

import numpy as np

from framesearch.errors import DiskFull, FrameSearchError, StoreError, StoreLocked, StoreReadOnly
from framesearch.settings import Settings
from framesearch.store.filters import SearchFilter, StoredPoint
from framesearch.store.pages import VideoSort
from framesearch.store.runs import CommitListener, CommitListeners, Committed, Op, RunMarker
from framesearch.store.schema import CollectionInfo, FrameHit, FramePoint, IndexStatus, VideoRecord
from framesearch.store.space import FLOOR, MB, free_bytes
from framesearch.store.writes import Run, open_run

log = logging.getLogger(__name__)
BUSY_WAIT_S = 0.0  # info()/frame_count()/index_status() answer from cache unless the store is free right now
LOCK_RETRY_S = 10.0  # a restarted service waits this long for the previous store process to let go
BUILD_POLL_S = 0.1  # how often build_index() asks whether the build it started is done

# What each call can change of the answers the proxy keeps (the others change none of them).
KEPT = ("info", "frame_count", "index_status")
APPLY = "__apply__"  # a module-level function run in the store process (HostedStore.apply): it may change anything
BUILD, BUILD_POLL = "__build__", "__build_poll__"  # start an index build in its thread; is it done (its status)?
REFRESHES: dict[str, tuple[str, ...]] = {
    APPLY: KEPT,
    BUILD_POLL: ("index_status",),
    "ensure_collection": ("info",),
    "commit_run": ("frame_count",),
    "commit_delete": ("frame_count",),
    "put_video": ("frame_count",),
    "delete_video": ("frame_count", "index_status"),
    "end_run": ("index_status",),
    "merge_chunks": ("index_status",),
    "abandon_run": ("index_status",),
    "recover": ("index_status",),
    "build_index": ("index_status",),
}
# Calls that only read: a store opened read-only on a full disk serves them from its private copy (see _before_write).
READS = frozenset(
    {
        "info",
        "search",
        "search_videos",
        "search_batch",
        "frame_vector",
        "frame_vectors",
        "frame_count",
        "stored_points",
        "frame_hits",
        "get_video",
        "list_videos",
        "videos_where",
        "video_page",
        "run_markers",
        "index_status",
        "flush",
        "checkpoint",
        "sample_vectors",
        "video_frames",
        "verify",
        BUILD_POLL,
    }
)


class HostedStore:
    """A store in a child process (spawned), providing the store's interface by forwarding each call."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._closed = False
        self.calls: Counter[str] = Counter()  # calls sent to the store process, by method
        self.refreshed: Counter[str] = Counter()  # kept answers the store process refreshed, by name
        self._listeners = CommitListeners()
        ready = self._spawn()
        self.description: str = ready["description"]
        self.read_only: bool = ready["read_only"]
        self.hnsw_ef: int = ready["hnsw_ef"]
        self.index_builds_here: bool = ready["index_builds_here"]

    def _spawn(self) -> dict[str, Any]:
        """Start the store process and wait for it to open the store; returns what it says of the store."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_host, args=(child, self._settings), name="framesearch-store", daemon=True)
        self._process.start()
        child.close()
        ready = self._receive()
        self._kept: dict[str, Any] = {name: ready[name] for name in KEPT}
        self._full_disk_copy: bool = ready["full_disk_copy"]
        return ready

    def _before_write(self) -> None:
        """A store opened on a full disk is read from a private copy: once there is space again, open it anew for
        writing; while the disk is still full, a write is DiskFull (507), not a read-only store (called locked)."""
        if not self._full_disk_copy:
            return
        free = free_bytes(self._settings.store)
        if free is not None and free < max(self._settings.min_free_mb * MB, FLOOR):
            raise DiskFull("the disk is full: the library can be searched but not written. Free some disk space and try again")
        self._stop_process()
        self._spawn()

    def _stop_process(self) -> None:
        try:
            self._conn.send(("close", (), {}))
            self._conn.recv()
        except (EOFError, OSError):
            pass
        self._conn.close()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()

    def _revive(self) -> None:
        """A store process that died (killed, out of memory) is started again: opening the store rolls back the
        runs it left unfinished. The call that found it dead failed; the next ones go to the new process."""
        log.warning("the store process exited (code %s); starting it again", self._process.exitcode)
        self._conn.close()
        self._spawn()

    def _receive(self) -> Any:
        try:
            kind, value, state = self._conn.recv()
        except (EOFError, OSError):
            raise self._exited() from None
        except Exception as exc:  # an answer that does not unpickle (an exception type with its own arguments)
            raise StoreError(f"unreadable answer from the store process: {exc}") from None
        self._version = state.pop("version")
        for name, fresh in state.items():
            self._kept[name] = fresh
            self.refreshed[name] += 1
        if kind == "error":
            raise value
        return value

    def _exited(self) -> FrameSearchError:
        """Why the store process is gone: a full disk (SIGBUS from the engine's memory-mapped files), or its code."""
        self._process.join(timeout=5)
        if self._process.exitcode == -signal.SIGBUS:
            return DiskFull(
                "the disk filled up while the store was writing, so its engine was stopped; nothing more was written "
                "and the library keeps its last committed state. Free some disk space and try again"
            )
        return StoreError(f"the store process exited (code {self._process.exitcode})")

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`store.name(*args, **kwargs)` in the store process."""
        return self._send(name, args, kwargs)

    def _send(self, name: str, args: tuple, kwargs: dict[str, Any], timeout: float | None = None) -> Any:
        """Run one call in the store process; with `timeout`, TimeoutError if it is busy that long."""
        if timeout is None:
            acquired = self._lock.acquire()
        else:
            acquired = self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(blocking=False)
        if not acquired:
            raise TimeoutError(name)
        try:
            if self._closed:
                raise StoreError(f"{self.description} is closed")
            if not self._process.is_alive():
                self._revive()
            if name not in READS:
                self._before_write()
            self.calls[name] += 1
            try:
                self._conn.send((name, args, kwargs))
            except OSError:
                raise self._exited() from None
            return self._receive()
        finally:
            self._lock.release()

    def apply(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(store, *args)` run in the store process (a module-level function: it is sent by name), for
        work over the whole store (a description, a check, a repair) that is not one of its methods."""
        return self._send(APPLY, (function, *args), {})

    def _fresh_or_kept(self, name: str) -> Any:
        """The store's answer if it is free now, else the last answer seen (health checks never queue)."""
        try:
            self._kept[name] = self._send(name, (), {}, timeout=BUSY_WAIT_S)
        except TimeoutError:
            pass
        return self._kept[name]

    # the collection

    def info(self) -> CollectionInfo | None:
        """The collection as the store process last told: only the calls that change it do (`REFRESHES`), and every
        search asks (its model): no round trip."""
        return self._kept["info"]

    def ensure_collection(self, model: str, dim: int, model_path: str | None = None) -> CollectionInfo:
        return self._call("ensure_collection", model, dim, model_path)

    def ensure_space(self, frames: int, dim: int, what: str) -> None:
        self._call("ensure_space", frames, dim, what)

    # what searches see

    def library_version(self) -> Hashable | None:
        """The store's library version as of its last answer: every write goes through this proxy."""
        return self._version

    def search(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[FrameHit]:
        return self._call("search", vector, flt, limit, threshold)

    def search_videos(
        self, vector: np.ndarray, flt: SearchFilter = SearchFilter(), limit: int = 100, threshold: float | None = None
    ) -> list[tuple[str, float]]:
        return self._call("search_videos", vector, flt, limit, threshold)

    def search_batch(
        self, vector: np.ndarray, requests: Sequence[tuple[SearchFilter, int]], threshold: float | None = None
    ) -> list[list[FrameHit]]:
        return self._call("search_batch", vector, list(requests), threshold)

    def frame_vector(self, video_id: str, frame: int) -> np.ndarray:
        return self._call("frame_vector", video_id, frame)

    def frame_vectors(self, frames: Sequence[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        return self._call("frame_vectors", list(frames))

    def sample_vectors(self, size: int) -> np.ndarray:
        return self._call("sample_vectors", size)

    def video_frames(self, flt: SearchFilter) -> tuple[list[FrameHit], np.ndarray]:
        return self._call("video_frames", flt)

    def frame_count(self, video_id: str | None = None) -> int:
        return self._call("frame_count", video_id) if video_id is not None else self._fresh_or_kept("frame_count")

    def stored_points(self) -> int:
        return self._call("stored_points")

    def frame_hits(self, video_id: str, run: str | None = None) -> list[FrameHit]:
        return self._call("frame_hits", video_id, run)

    # the library

    def get_video(self, video_id: str) -> VideoRecord:
        return self._call("get_video", video_id)

    def list_videos(self) -> list[VideoRecord]:
        return self._call("list_videos")

    def video_page(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        match: str | None = None,
        under: str | None = None,
        sort: VideoSort = "name",
    ) -> tuple[int, list[VideoRecord]]:
        return self._call("video_page", limit=limit, offset=offset, match=match, under=under, sort=sort)

    def videos_where(self, *, content_hash: str | None = None, path: str | None = None) -> list[VideoRecord]:
        return self._call("videos_where", content_hash=content_hash, path=path)

    def put_video(self, record: VideoRecord) -> None:
        self._call("put_video", record)

    def delete_video(self, video_id: str) -> int:
        return self._call("delete_video", video_id)

    def run_markers(self, video_id: str | None = None) -> list[RunMarker]:
        return self._call("run_markers", video_id)

    def recover(self) -> list[RunMarker]:
        return self._call("recover")

    def verify(self) -> None:
        self._call("verify")

    # runs: the protocol is open_run's (store/writes.py), each step one call

    def run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> AbstractContextManager[Run]:
        return open_run(self, video_id, op, frames, dim)

    def on_commit(self, listener: CommitListener) -> Callable[[], None]:
        """Listeners live here, in the service's process: they hear of the runs written through this object."""
        return self._listeners.add(listener)

    def announce(self, done: Committed) -> None:
        self._listeners.announce(done)

    def begin_run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> str:
        return self._call("begin_run", video_id, op, frames, dim)

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None:
        self._call("upsert_frames", list(frames), run)

    def put_points(self, points: Sequence[StoredPoint], run: str) -> None:
        self._call("put_points", list(points), run)

    def commit_run(self, record: VideoRecord) -> None:
        self._call("commit_run", record)

    def commit_delete(self, video_id: str) -> None:
        self._call("commit_delete", video_id)

    def abandon_run(self, video_id: str, run: str, cause: BaseException) -> None:
        self._call("abandon_run", video_id, run, _portable(cause))

    def end_run(self, video_id: str, run: str, committed: bool) -> None:
        self._call("end_run", video_id, run, committed)

    def merge_chunks(self, video_id: str, expire_before: float | None = None) -> int:
        return self._call("merge_chunks", video_id, expire_before)

    # the index and the files

    def index_status(self) -> IndexStatus:
        return self._fresh_or_kept("index_status")

    def build_index(self, progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """Build in a thread of the store process, which meanwhile answers other calls; waits for the build, telling
        `progress` the index status as it goes (the one running build is waited for when one is under way)."""
        self._call(BUILD)
        while True:
            status = self._call(BUILD_POLL)
            if progress:
                progress(status or self._kept["index_status"])
            if status is not None:
                return status
            time.sleep(BUILD_POLL_S)

    def flush(self) -> None:
        self._call("flush")

    def checkpoint(self) -> None:
        self._call("checkpoint")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_process()


# what the store process runs: the methods above that forward, by name
FORWARDED = frozenset(
    name
    for name, attr in vars(HostedStore).items()
    if callable(attr) and not name.startswith("_") and name not in ("run", "close", "library_version", "apply")
)


def _portable(cause: BaseException) -> BaseException:
    """What abandon_run needs of an error, in a form that crosses the pipe (the error itself may not pickle)."""
    if isinstance(cause, (DiskFull, StoreReadOnly)):
        return type(cause)(str(cause))
    return Exception(repr(cause)) if isinstance(cause, Exception) else KeyboardInterrupt()


def _host(conn: Any, settings: Settings) -> None:
    """The store process: open the store, then run each call sent down the pipe until told to close (or the
    service is gone). Ctrl-C reaches the whole process group: the service closes this store, not the signal."""
    from framesearch.store.open import open_store

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    deadline = time.monotonic() + LOCK_RETRY_S
    while True:
        try:
            store = open_store(settings)
            break
        except StoreLocked as exc:
            if time.monotonic() > deadline:
                conn.send(("error", exc, {"version": None}))
                return
            time.sleep(0.1)
        except FrameSearchError as exc:
            conn.send(("error", exc, {"version": None}))
            return
    try:
        ready = {
            "description": store.description,
            "read_only": store.read_only,
            "hnsw_ef": store.hnsw_ef,
            "index_builds_here": store.index_builds_here,
            "full_disk_copy": bool(store.read_only) and "disk is full" in store.description,
            "info": store.info(),
            "frame_count": store.frame_count(),
            "index_status": store.index_status(),
        }
        conn.send(("ok", ready, {"version": store.library_version()}))
        _serve(conn, store)
    finally:
        store.close()


def _serve(conn: Any, store: Any) -> None:
    from framesearch.store.edge_build import CopyBuild

    build = CopyBuild(store)
    try:
        _answer_calls(conn, store, build)
    finally:
        build.wait()  # the store closes after its build, never under it


def _answer_calls(conn: Any, store: Any, build: Any) -> None:
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return  # the service is gone
        if name == "close":
            build.wait()
            conn.send(("ok", None, {"version": None}))
            return
        try:
            if name == BUILD:
                answer: tuple[str, Any] = ("ok", build.start())
            elif name == BUILD_POLL:
                answer = ("ok", build.poll())
            elif name == APPLY:
                answer = ("ok", args[0](store, *args[1:], **kwargs))
            elif name not in FORWARDED:
                raise StoreError(f"the store process has no method {name!r}")
            else:
                answer = ("ok", getattr(store, name)(*args, **kwargs))
        except Exception as exc:  # every error goes back to the caller, as itself when it pickles
            log.debug("store call %s failed", name, exc_info=True)
            answer = ("error", exc)
        state = _state(store, REFRESHES.get(name, ()))
        try:
            conn.send((*answer, state))
        except Exception:  # an answer or an exception that does not pickle
            conn.send(("error", StoreError(f"{type(answer[1]).__name__}: {answer[1]}"), state))


def _state(store: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The library version, and fresh answers of the kept `names` (a failed read keeps the last one)."""
    state: dict[str, Any] = {"version": store.library_version()}
    for name in names:
        try:
            state[name] = getattr(store, name)()
        except Exception as exc:
            log.debug("refreshing %s failed: %s", name, exc)
    return state
