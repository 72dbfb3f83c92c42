"""The address a running `framesearch serve` records beside the store it holds, so every other command finds it.

`<store>/service.json` says which process serves which collection of this store, and where: the CLI reads it
to talk to that service instead of opening the store (which Qdrant Edge lets one process do), and the store's
lock message names it. The service writes it when it is ready and removes it on a clean exit; a file whose
process is gone (a crash, SIGKILL) is stale and ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from framesearch.files import write_atomic

ADDRESS_FILE = "service.json"


@dataclass(frozen=True)
class ServiceAddress:
    """Where a running service answers, for which collection, and the process that serves it."""

    url: str
    pid: int
    collection: str
    started_at: str = ""

    def describe(self) -> str:
        return f"`framesearch serve` at {self.url} (pid {self.pid})"


def address_path(store_root: Path) -> Path:
    return Path(store_root) / ADDRESS_FILE


def write_address(store_root: Path, url: str, collection: str) -> ServiceAddress:
    """Record this process as the service of `store_root` (atomically: readers see the old file or the new)."""
    address = ServiceAddress(url=url, pid=os.getpid(), collection=collection, started_at=datetime.now(UTC).isoformat())
    target = address_path(store_root)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(asdict(address), indent=2))
    return address


def remove_address(store_root: Path) -> None:
    """Remove the address file if it is this process's (a newer service's file is left alone)."""
    found = read_address(store_root, live_only=False)
    if found is not None and found.pid == os.getpid():
        address_path(store_root).unlink(missing_ok=True)


def read_address(store_root: Path, live_only: bool = True) -> ServiceAddress | None:
    """The service recorded for `store_root`; None if there is none, it is unreadable or (`live_only`) its
    process is gone."""
    try:
        data = json.loads(address_path(store_root).read_text())
        address = ServiceAddress(
            url=str(data["url"]),
            pid=int(data["pid"]),
            collection=str(data["collection"]),
            started_at=str(data.get("started_at", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if live_only and not pid_alive(address.pid):
        return None
    return address


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] != "Z"
