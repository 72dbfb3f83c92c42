"""A store held by a child process, for the service: the engine's work never holds the service's interpreter.

`qdrant-edge-py` keeps the GIL for the whole of each call (a search, an upsert, an index build of many
seconds), so a service calling it in threads still stalls its event loop, and /healthz with it. Here the
service talks to the store through a pipe: calls are forwarded one at a time (Edge serves one at a time in
any case), the calling thread waits on the pipe with the GIL released, and the event loop keeps answering.
`info()` and `frame_count()` answer from what the proxy last saw when the store is busy (an index build),
so health checks never wait for the engine. Any other public store method is forwarded as it is.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from typing import Any

from framesearch.errors import DiskFull, FrameSearchError, StoreError, StoreLocked
from framesearch.settings import Settings
from framesearch.store.schema import CollectionInfo
from framesearch.store.space import FLOOR, MB, free_bytes

log = logging.getLogger(__name__)
BUSY_WAIT_S = 0.0  # info()/frame_count()/index_status() answer from cache unless the store is free right now
LOCK_RETRY_S = 10.0  # a restarted service waits this long for the previous store process to let go


class HostedStore:
    """A VectorStore in a child process (spawned), with the same public methods as the store it holds."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._closed = False
        ready = self._spawn()
        self.description: str = ready["description"]
        self.hnsw_ef: int = ready["hnsw_ef"]
        self.index_builds_here: bool = ready["index_builds_here"]
        self._full_disk_copy: bool = ready["full_disk_copy"]
        self._cache: dict[str, Any] = {"info": ready["info"], "frame_count": ready["frames"], "index_status": ready["index"]}

    def _spawn(self) -> Any:
        """Start the store process and wait for it to open the store; returns what it says of the store."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_host, args=(child, self._settings), name="framesearch-store", daemon=True)
        self._process.start()
        child.close()
        ready = self._receive()
        self._full_disk_copy = ready["full_disk_copy"]
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
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            raise self._exited() from None
        except Exception as exc:  # an answer that does not unpickle (an exception type with its own arguments)
            raise StoreError(f"unreadable answer from the store process: {exc}") from None
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

    def call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run `store.name(*args, **kwargs)` in the store process; with `timeout`, TimeoutError if it is busy."""
        if not (
            self._lock.acquire()
            if timeout is None
            else self._lock.acquire(timeout=timeout)
            if timeout > 0
            else self._lock.acquire(blocking=False)
        ):
            raise TimeoutError(name)
        try:
            if self._closed:
                raise StoreError(f"{self.description} is closed")
            if not self._process.is_alive():
                self._revive()
            if name not in _READS:
                self._before_write()
            try:
                self._conn.send((name, args, kwargs))
            except OSError:
                raise self._exited() from None
            result = self._receive()
        finally:
            self._lock.release()
        if name not in _READS and name not in _BATCH_WRITES:
            for cached in self._cache:  # after a write that may change them (an ingest's last steps, a delete)
                self._cache[cached] = self.call(cached)
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def apply(self, function: Any, *args: Any) -> Any:
        """`function(store, *args)` run in the store process (a module-level function: it is sent by name), for
        work over the whole store (a description, a check) that is not one of its methods."""
        return self.call(APPLY, function, *args)

    def _fresh_or_cached(self, name: str) -> Any:
        """The store's answer if it is free now, else the last answer seen (health checks never queue)."""
        try:
            self._cache[name] = self.call(name, timeout=BUSY_WAIT_S)
        except TimeoutError:
            pass
        return self._cache[name]

    def info(self) -> CollectionInfo | None:
        return self._fresh_or_cached("info")

    def index_status(self) -> Any:
        return self._fresh_or_cached("index_status")

    def frame_count(self, video_id: str | None = None) -> int:
        return self.call("frame_count", video_id) if video_id is not None else self._fresh_or_cached("frame_count")

    def build_index(self, progress: Any = None) -> Any:
        """Build in the store process (progress callbacks cannot cross processes: told before and after)."""
        status = self.call("index_status")
        if progress:
            progress(status)
        status = self.call("build_index")
        if progress:
            progress(status)
        return status

    def __enter__(self) -> HostedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_process()


_READS = {
    "info",
    "search",
    "search_batch",
    "frame_vector",
    "frame_vectors",
    "frame_count",
    "frame_hits",
    "get_video",
    "list_videos",
    "videos_where",
    "video_page",
    "index_status",
    "flush",
    "checkpoint",
    "library_version",
    "sample_vectors",
    "video_frames",
}
_BATCH_WRITES = {"upsert_frames"}
APPLY = "__apply__"  # many per ingest: the cache is refreshed by the ingest's last steps


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
                conn.send(("error", exc))
                return
            time.sleep(0.1)
        except FrameSearchError as exc:
            conn.send(("error", exc))
            return
    try:
        conn.send(
            (
                "ok",
                {
                    "description": store.description,
                    "hnsw_ef": store.hnsw_ef,
                    "info": store.info(),
                    "frames": store.frame_count(),
                    "index": store.index_status(),
                    "index_builds_here": store.index_builds_here,
                    "full_disk_copy": bool(getattr(store, "read_only", False)) and "disk is full" in store.description,
                },
            )
        )
        _serve(conn, store)
    finally:
        store.close()


def _serve(conn: Any, store: Any) -> None:
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return  # the service is gone
        if name == "close":
            conn.send(("ok", None))
            return
        try:
            if name == APPLY:
                result = args[0](store, *args[1:], **kwargs)
            else:
                result = getattr(store, name)(*args, **kwargs)
            conn.send(("ok", result))
        except Exception as exc:  # every error goes back to the caller, as itself when it pickles
            log.debug("store call %s failed", name, exc_info=True)
            try:
                conn.send(("error", exc))
            except Exception:  # an exception that does not pickle
                conn.send(("error", StoreError(f"{type(exc).__name__}: {exc}")))
