"""An index build that leaves the store serving: the frames shard is copied, its HNSW graph built on the copy by a
child process at a lower CPU priority, and the copy swapped in for the live shard once built.

Qdrant Edge holds the interpreter while it builds in place, so a store process building in place answered nothing
else for the whole build (minutes at library scale). Here the store process copies the shard (after a flush, in a
thread), the child (`python -m framesearch.store.edge_build FOLDER`, niceness BUILD_NICE) loads the copy and
optimizes it, and the store process, told it is done by its next poll, closes the live shard and renames the copy
into its place (a fraction of a second). Searches and writes go on throughout. A frame written after the copy was
taken would be lost by the swap, so a copy that went stale is thrown away and the build starts again, in place
after STALE_RETRIES tries. Without the disk space for a copy, the build is made in place. A crash in the swap's
two renames leaves the live shard under SWAPPED: opening the store puts it back (`recover_swap`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from framesearch.errors import DiskFull, StoreError
from framesearch.files import fsync_dir
from framesearch.store import edge_files as files
from framesearch.store.guard import NO_SPACE
from framesearch.store.schema import IndexStatus
from framesearch.store.space import MB, free_bytes

log = logging.getLogger(__name__)
BUILD_NICE = 10  # the building child's niceness: searches come first when both want the CPU
STALE_RETRIES = 2  # copies thrown away for frames written meanwhile before the build is made in place
BUILDING = ".building-"  # a copy being built: removed when the store opens
SWAPPED = ".swapped-frames"  # the live shard, for the moment of the swap


def recover_swap(root: Path) -> None:
    """Finish what a crash in a build left: the live shard put back if the swap was cut short; copies removed."""
    live, swapped = root / "frames", root / SWAPPED
    if swapped.is_dir():
        if live.is_dir():
            shutil.rmtree(swapped, ignore_errors=True)
        else:
            os.replace(swapped, live)
            fsync_dir(root)
    for copy in root.glob(f"{BUILDING}*"):
        shutil.rmtree(copy, ignore_errors=True)


class CopyBuild:
    """One build of an Edge store's index on a copy of its frames shard (`start`, then `poll` until a status)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.copy: Path | None = None
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.writes_at_copy = -1
        self.stale = 0
        self.child: subprocess.Popen | None = None

    def start(self) -> None:
        """Flush, then copy and build in a thread; the store goes on answering calls meanwhile."""
        if self.thread is not None:
            return
        if not self.store.builds_on_copy:
            self.thread = threading.Thread(target=lambda: None)  # nothing to build on a copy: poll builds in place
            self.thread.start()
            self.copy = None
            self.failure = _NoSpace("no shard to copy")
            return
        self.store.flush()
        self.failure = None
        self.writes_at_copy = self.store.frame_writes
        self.copy = self.store.data / f"{BUILDING}{uuid.uuid4().hex}"
        self.thread = threading.Thread(target=self._build, args=(self.copy,), name="framesearch-index-build", daemon=True)
        self.thread.start()

    def _build(self, copy: Path) -> None:
        try:
            live = self.store.data / "frames"
            need = files.allocated_bytes(live)
            free = free_bytes(self.store.data)
            if free is not None and free < need + max(self.store.reserve_mb * MB, 2 * need // 10):
                raise _NoSpace(f"a copy of the frames shard needs {need // MB} MB")
            shutil.copytree(live, copy, copy_function=lambda src, dst: files.sparse_copy(Path(src), Path(dst)))
            self.child = subprocess.Popen(
                [sys.executable, "-m", "framesearch.store.edge_build", str(copy)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            _, stderr = self.child.communicate()
            if self.child.returncode != 0:
                last = (stderr.strip().splitlines() or [""])[-1][-300:]
                if any(words in last.lower() for words in NO_SPACE):
                    raise DiskFull(f"the disk is too full to build the search index now ({last}); searches scan meanwhile")
                raise StoreError(f"building the index on a copy failed: {stderr.strip()[-500:]}")
        except BaseException as exc:
            self.failure = exc

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def poll(self) -> IndexStatus | None:
        """None while the copy is built; then the copy swapped in (or the build made again) and the index status."""
        if self.running() or self.thread is None:
            return None if self.thread is not None else self.store.index_status()
        self.thread = None
        copy, self.copy = self.copy, None
        if isinstance(self.failure, _NoSpace):
            log.info("%s: %s; building in place", self.store.description, self.failure)
            _remove(copy)
            return self.store.build_index()
        if self.failure is not None or copy is None:
            _remove(copy)
            raise self.failure or StoreError("the index build made no copy")
        if self.store.frame_writes != self.writes_at_copy:  # frames written since the copy: it would lose them
            _remove(copy)
            self.stale += 1
            if self.stale > STALE_RETRIES:
                self.stale = 0
                return self.store.build_index()
            self.start()
            return None
        self.stale = 0
        self.store.replace_frames_shard(copy)
        return self.store.index_status()

    def wait(self) -> None:
        """Stop a build on a copy and throw the copy away (the store is closing)."""
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        _remove(self.copy)
        self.copy = None


class _NoSpace(Exception):
    pass


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def main(folder: str) -> None:
    """The building child: load the copy, build its index, persist it."""
    import qdrant_edge

    os.nice(BUILD_NICE)
    shard = qdrant_edge.EdgeShard.load(folder)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


if __name__ == "__main__":
    main(sys.argv[1])
