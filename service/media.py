"""Media for the web page: a video's registered file and frame thumbnails cached on disk. No web code.

The thumbnail cache is bounded in bytes (least recently used files go first), and times are snapped to the
video's indexed frames, so a video has at most one cached thumbnail per indexed frame whatever times are asked.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cachetools import LRUCache

from framesearch.errors import InvalidInput, VideoFileUnavailable
from framesearch.files import write_atomic
from framesearch.ingest.video import VIDEO_TYPES
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord

THUMB_SHORT_SIDE = 240
THUMB_QUALITY = 82
THUMB_TIME_STEP = 0.01
FRAME_TIMES_KEPT = 32  # videos whose frame times stay in memory for snapping
log = logging.getLogger(__name__)


def media_type(path: Path) -> str:
    """The Content-Type of a video file, from its extension."""
    return VIDEO_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def record_file(record: VideoRecord) -> Path:
    """The file a video's record registers (its first path still on disk: a copy stands in for a deleted file);
    the only paths ever served for that video."""
    if not record.path:
        raise VideoFileUnavailable(f"video {record.video_id!r} has no video file: its results were imported without the video")
    here = [Path(p) for p in record.known_paths() if Path(p).is_absolute() and Path(p).is_file()]
    path = here[0] if here else Path(record.path)
    if not path.is_absolute():  # only this machine's own absolute paths; never one relative to the working folder
        raise VideoFileUnavailable(f"the file of video {record.video_id!r} is not available (not an absolute path)")
    if not path.is_file():
        raise VideoFileUnavailable(f"the file of video {record.video_id!r} is not available (missing: {path})")
    return path


def video_file(store: VectorStore, video_id: str) -> Path:
    """The registered file of an indexed video (NotFound for unknown ids, VideoFileUnavailable without a file)."""
    return record_file(store.get_video(video_id))


@dataclass(frozen=True)
class Thumbnail:
    """A JPEG and the validator the browser revalidates it with."""

    data: bytes
    etag: str


def _check_time(t: float) -> float:
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise InvalidInput(f"thumbnail time must be a finite number of seconds >= 0, got {t}")
    return float(t)


def snap(t: float, times: np.ndarray, duration: float | None) -> float:
    """The indexed frame time nearest `t` (a grid of THUMB_TIME_STEP when the video has no stored frames)."""
    if duration is not None and duration > 0:
        t = min(t, duration)
    if len(times) == 0:
        return round(round(t / THUMB_TIME_STEP) * THUMB_TIME_STEP, 3)
    i = int(np.searchsorted(times, t))
    candidates = times[max(0, i - 1) : i + 1]
    return round(float(candidates[np.argmin(np.abs(candidates - t))]), 3)


class _CachedFiles(LRUCache[Path, int]):
    """Cached files and their sizes, at most `max_bytes` in all (or the one file last used, when it is larger):
    the least recently used file is deleted first."""

    def __init__(self, max_bytes: int) -> None:
        limit = max(1, max_bytes)
        super().__init__(maxsize=limit, getsizeof=lambda size: min(size, limit))

    def keep(self, path: Path, size: int) -> None:
        """Note a file used now."""
        self[path] = size

    def popitem(self) -> tuple[Path, int]:
        path, size = super().popitem()
        _remove(path)
        return path, size


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove cached thumbnail %s: %s", path, exc)


class ThumbnailCache:
    """Frames as JPEGs on disk, keyed by video, file version, frame time and size; at most `max_bytes` on disk."""

    def __init__(self, folder: Path, max_bytes: int, short_side: int = THUMB_SHORT_SIDE) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.short_side = short_side
        self._lock = threading.Lock()
        self._files = _CachedFiles(max_bytes)  # file -> its size, least recently used removed first
        self._times: LRUCache[tuple, np.ndarray] = LRUCache(maxsize=FRAME_TIMES_KEPT)
        self._scan()

    def _scan(self) -> None:
        """Index what a previous run left, oldest first (by modification time, which a hit refreshes)."""
        found = []
        for path in self.folder.glob("*/*"):
            try:
                if path.suffix == ".part":
                    path.unlink(missing_ok=True)
                elif path.is_file():
                    stat = path.stat()
                    found.append((stat.st_mtime_ns, path, stat.st_size))
            except OSError:
                continue
        with self._lock:
            for _, path, size in sorted(found):
                self._files.keep(path, size)

    def key(self, record: VideoRecord, path: Path, t: float) -> str:
        """Changes whenever the video's file or its index does, so a stale frame is never served."""
        stat = path.stat()
        version = f"{record.content_hash or record.indexed_at}\x00{stat.st_size}\x00{stat.st_mtime_ns}"
        raw = f"{record.video_id}\x00{version}\x00{t:.3f}\x00{self.short_side}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def frame_times(self, store: VectorStore, record: VideoRecord) -> np.ndarray:
        """The video's indexed frame times, sorted (kept in memory for the last FRAME_TIMES_KEPT videos)."""
        version = (record.video_id, record.indexed_at, record.content_hash, record.frames)
        with self._lock:
            known = self._times.get(version)
        if known is not None:
            return known
        times = np.sort(np.asarray([hit.timestamp for hit in store.frame_hits(record.video_id)], dtype=np.float64))
        with self._lock:
            self._times[version] = times
        return times

    def get(self, store: VectorStore, video_id: str, t: float) -> Thumbnail:
        """The thumbnail of `video_id` at its indexed frame nearest `t`, extracted from the file on a cache miss."""
        record = store.get_video(video_id)
        path = record_file(record)
        t = snap(_check_time(t), self.frame_times(store, record), record.duration)
        key = self.key(record, path, t)
        target = self.folder / key[:2] / f"{key}.jpg"
        try:
            data = target.read_bytes()
            os.utime(target)  # recency survives a restart
        except FileNotFoundError:
            data = self._render(path, t, target)
        if target.is_file():
            self._used(target, len(data))
        return Thumbnail(data, f'"{key[:32]}"')

    def _used(self, target: Path, size: int) -> None:
        with self._lock:
            self._files.keep(target, size)

    def _render(self, video: Path, t: float, target: Path) -> bytes:
        import io

        from PIL import Image

        from framesearch.ingest.video import frame_at

        buffer = io.BytesIO()
        Image.fromarray(frame_at(video, t, self.short_side)).save(buffer, "JPEG", quality=THUMB_QUALITY, optimize=True)
        data = buffer.getvalue()
        try:
            write_atomic(target, data)
        except OSError as exc:  # a full or read-only disk: serve the frame uncached
            log.warning("cannot cache thumbnail %s: %s", target, exc)
        return data
