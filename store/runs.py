"""Ingest runs: how a write to a video becomes visible all at once, and how a crashed one is found.

Every write to a video (an ingest, a delete) is a run with a fresh id. Before the run writes any point it
stores a *run marker* in the videos collection (who writes, since when); its frame points carry the run
id. The video's record naming the run is the commit. While a video has a marker, searches show only the
points of its committed run (the previous version, or nothing for a new video); once the run is finished
(other runs' points swept, marker deleted) the video has points of one run only. A marker whose writer is
gone (a crash) is an uncommitted run: opening the store or a store check removes its points.

One writer per video: a run is refused while a live marker for the same video exists. A marker is live
while its process runs (same host: the process id and its start time are checked) or, for writers on
other hosts, while its heartbeat is recent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from framesearch.store.schema import KIND, POINT_NAMESPACE

log = logging.getLogger(__name__)

RUN_KIND = "run"
HEARTBEAT_S = 60.0  # a writer refreshes its marker at most this often
STALE_S = 15 * 60.0  # a marker from another host without a heartbeat for this long is abandoned

Op = Literal["ingest", "delete"]


def marker_id(run: str) -> str:
    """Id of a run's marker in the videos collection."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"run\x00{run}"))


def new_run() -> str:
    return uuid.uuid4().hex


def _process_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (Linux): state first, start time at index 19."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), to tell a reused pid from its first owner."""
    fields = _process_stat(pid)
    return fields[19].decode() if fields and len(fields) > 19 else None


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _process_stat(pid)
    if fields and fields[0] in (b"Z", b"X"):  # killed, not yet reaped (its parent died too): writes nothing more
        return False
    return start is None or _process_start(pid) in (None, start)


class RunMarker(BaseModel):
    """A run in progress (or abandoned): stored in the videos collection until the run is finished."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["run"] = RUN_KIND
    video_id: str
    ingest_run: str
    op: Op = "ingest"
    host: str
    pid: int
    process_start: str | None = None
    started_at: str
    heartbeat: float

    @classmethod
    def mine(cls, video_id: str, run: str, op: Op) -> RunMarker:
        """A marker for a run written by this process."""
        pid = os.getpid()
        return cls(
            video_id=video_id,
            ingest_run=run,
            op=op,
            host=socket.gethostname(),
            pid=pid,
            process_start=_process_start(pid),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            heartbeat=time.time(),
        )

    def payload(self) -> dict[str, Any]:
        return self.model_dump()

    def is_live(self, my_runs: set[str]) -> bool:
        """Whether the writer may still be at work: `my_runs` are the runs this process has in progress."""
        if self.host == socket.gethostname():
            if self.pid == os.getpid():
                return self.ingest_run in my_runs
            return _pid_alive(self.pid, self.process_start)
        return time.time() - self.heartbeat < STALE_S

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}, since {self.started_at}"


def is_marker(payload: dict[str, Any]) -> bool:
    return payload.get(KIND) == RUN_KIND


@dataclass(frozen=True)
class Visibility:
    """What searches may see: the videos that have runs in progress show only their committed runs' points."""

    pending: tuple[str, ...] = ()
    committed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Committed:
    """A run just committed and finished: its video, its id, what it did, and the points it wrote (how many, and
    the time range they cover), so that a listener can look at just those points (their `ingest_run` is `run`)."""

    video_id: str
    run: str
    op: Op = "ingest"
    frames: int = 0
    t_min: float | None = None
    t_max: float | None = None


CommitListener = Callable[[Committed], None]


class CommitListeners:
    """Who is told of each committed run (in the writer's thread, after the run is finished: its points are
    searchable). A listener's failure is logged, never raised: the commit stands."""

    def __init__(self) -> None:
        self._items: list[CommitListener] = []
        self._lock = threading.Lock()

    def add(self, listener: CommitListener) -> Callable[[], None]:
        """Tell `listener` of every commit from now on; returns what stops it."""
        with self._lock:
            self._items.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)

        return remove

    def announce(self, done: Committed) -> None:
        with self._lock:
            listeners = list(self._items)
        for listener in listeners:
            try:
                listener(done)
            except Exception:  # a listener (alerts) never fails the write it hears of
                log.exception("a commit listener failed on run %s of %r", done.run, done.video_id)
