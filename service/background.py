"""Work the service does off its event loop and off its request threads: parsing large results uploads in a
worker process, and building the search index after uploads and jobs, one build at a time."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from framesearch.errors import DiskFull

log = logging.getLogger(__name__)
IN_THREAD_BYTES = 1 << 20  # smaller uploads parse in a thread: a few ms of the interpreter, less than a process hop
BUILD_STOP_WAIT_S = 600.0  # an index build cannot be interrupted: shutdown waits for it


def parse_results_file(path: str, where: str) -> Any:
    """Parse and validate a results upload saved at `path` (run in the parser process for large ones)."""
    from framesearch.ingest.results import parse_results_bytes

    return parse_results_bytes(Path(path).read_bytes(), where)


class ResultsParser:
    """Parses results uploads: small ones in the caller's thread, large ones in a worker process, so that decoding
    megabytes of JSON (which holds the interpreter throughout) never stalls the event loop or other requests."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, path: Path, where: str) -> Any:
        if path.stat().st_size < IN_THREAD_BYTES:
            return parse_results_file(str(path), where)
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
        return pool.submit(parse_results_file, str(path), where).result()

    def stop(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


class IndexBuilder:
    """Builds the search index in a background thread after writes: requests made while a build runs are
    coalesced into one more build. Searches meanwhile stay correct (unindexed frames are scanned); a hosted Qdrant
    Edge store builds on a copy in a niced child process (store/edge_build.py), so they keep their speed too.
    Stores indexed by a server need nothing."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.building = False
        self.builds = 0
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IndexBuilder:
        if getattr(self.store, "index_builds_here", False):
            self._thread = threading.Thread(target=self._run, name="framesearch-index", daemon=True)
            self._thread.start()
        return self

    def request(self) -> None:
        """Ask for a build (of what was written since the last one) as soon as the current one, if any, ends."""
        if self._thread is not None:
            self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            self.building = True
            try:
                status = self.store.build_index()
                log.info("search index built: %s of %s frames in indexed segments", status.indexed, status.points)
            except DiskFull as exc:  # expected on a full disk: searches scan, the next write asks again
                log.warning("search index not built: %s", exc)
            except Exception:  # a failed build leaves searches correct (scans); the next request retries
                log.exception("building the search index failed")
            finally:
                self.building = False
                self.builds += 1

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=BUILD_STOP_WAIT_S)
