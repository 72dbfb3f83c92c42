"""Watched folders (`serve --watch DIR`): videos that appear or change under them are indexed as library jobs.

A thread follows the folders' changes (watchfiles); a video file is sent only once it has settled (its size and
modification time unchanged for `settle_s`), so a file still being copied is never indexed half-way. On start
each folder is synced once (what is already indexed is skipped). With `prune`, videos whose files were deleted
from a watched folder leave the library.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framesearch.errors import FrameSearchError
from framesearch.ingest.video import VIDEO_EXTENSIONS
from framesearch.service.library_jobs import LibraryJobRequest

log = logging.getLogger(__name__)
SETTLE_S = 2.0  # a file unchanged this long is complete
TICK_MS = 500


@dataclass
class Pending:
    """A changed file waiting to settle: what it looked like last, and since when."""

    size: int
    mtime: float
    since: float


@dataclass
class FolderWatcher:
    """Follows `folders`; `submit` queues a library job, `delete_gone` removes the videos of deleted files."""

    folders: list[Path]
    submit: Callable[[LibraryJobRequest], Any]
    delete_gone: Callable[[list[Path]], Any] | None = None
    fps: float | None = None
    settle_s: float = SETTLE_S
    _pending: dict[Path, Pending] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FolderWatcher:
        self._thread = threading.Thread(target=self._run, name="framesearch-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        for folder in self.folders:
            self._send(folder, None)
            if self.delete_gone is not None:
                self._prune(folder)
        try:
            self._follow()
        except Exception:  # a watched folder removed or unmounted: say so, the service goes on
            log.exception("stopped watching %s", ", ".join(map(str, self.folders)))

    def _follow(self) -> None:
        from watchfiles import Change, watch

        for changes in watch(
            *self.folders, stop_event=self._stop, rust_timeout=TICK_MS, yield_on_timeout=True, debounce=TICK_MS, recursive=True
        ):
            gone: list[Path] = []
            for change, name in changes:
                path = Path(name)
                if path.suffix.lower() not in VIDEO_EXTENSIONS:
                    continue
                if change == Change.deleted:
                    self._pending.pop(path, None)
                    gone.append(path)
                else:
                    self._pending.setdefault(path, Pending(-1, -1.0, time.monotonic()))
            if gone and self.delete_gone is not None:
                self._delete([p for p in gone if not p.exists()])
            self._send_settled()

    def _send_settled(self) -> None:
        """Send the changed files that have settled, one job per watched folder."""
        ready: list[Path] = []
        now = time.monotonic()
        for path, seen in list(self._pending.items()):
            try:
                stat = path.stat()
            except OSError:  # gone again (a temporary file), or unreadable
                self._pending.pop(path)
                continue
            if (stat.st_size, stat.st_mtime) != (seen.size, seen.mtime):
                self._pending[path] = Pending(stat.st_size, stat.st_mtime, now)
            elif now - seen.since >= self.settle_s and stat.st_size > 0:
                ready.append(path)
                self._pending.pop(path)
        for folder in self.folders:
            mine = [p for p in ready if p.is_relative_to(folder)]
            if mine:
                self._send(folder, mine)

    def _send(self, folder: Path, only: list[Path] | None) -> None:
        options: dict[str, Any] = {} if self.fps is None else {"fps": self.fps}
        req = LibraryJobRequest(
            inputs=[str(folder)], recursive=True, only=None if only is None else [str(p) for p in only], **options
        )
        try:
            if only is None and not req.items():
                return  # nothing to sync in an empty folder: no job
            self.submit(req)
        except FrameSearchError as exc:
            log.warning("cannot index the videos of watched folder %s: %s", folder, exc)

    def _prune(self, folder: Path) -> None:
        """On start: the videos indexed from this folder whose files are gone."""
        self._delete([], under=folder)

    def _delete(self, paths: list[Path], under: Path | None = None) -> None:
        assert self.delete_gone is not None
        try:
            self.delete_gone([*paths, *([under] if under else [])])
        except FrameSearchError as exc:
            log.warning("cannot remove deleted videos from the library: %s", exc)


def videos_of_gone_files(store: Any, paths: Iterable[Path]) -> list[str]:
    """Ids of the videos whose files are `paths` (a folder: any file under it) and no longer exist."""
    wanted = [Path(p) for p in paths]
    ids = []
    for record in store.list_videos():
        if not record.path:
            continue
        path = Path(record.path)
        if any(path == p or path.is_relative_to(p) for p in wanted) and not path.exists():
            ids.append(record.video_id)
    return ids


def start_watching(folders: list[Path], jobs: Any, store: Any, prune: bool) -> FolderWatcher:
    """Watch `folders` for the service: library jobs on `jobs`, deletions from `store` with `prune`."""

    def delete_gone(paths: list[Path]) -> None:
        for video_id in videos_of_gone_files(store, paths):
            frames = store.delete_video(video_id)
            log.info("removed %s from the library (%d frames): its file was deleted", video_id, frames)

    resolved = [Path(f).expanduser().resolve() for f in folders]
    return FolderWatcher(resolved, jobs.submit_library, delete_gone if prune else None).start()
