"""Media for the web page: a video's registered file, frame thumbnails cached on disk, and image queries. No web code."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from framesearch.errors import InvalidInput, VideoFileUnavailable
from framesearch.ingest.video import VIDEO_TYPES
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord

THUMB_SHORT_SIDE = 240
THUMB_QUALITY = 82
THUMB_TIME_STEP = 0.01



def media_type(path: Path) -> str:
    """The Content-Type of a video file, from its extension."""
    return VIDEO_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def record_file(record: VideoRecord) -> Path:
    """The file a video's record registers; the only path ever served for that video."""
    if not record.path:
        raise VideoFileUnavailable(
            f"video {record.video_id!r} has no video file: its results were imported without the video"
        )
    path = Path(record.path)
    if not path.is_file():
        raise VideoFileUnavailable(f"the file of video {record.video_id!r} is not available (missing: {path})")
    return path


def video_file(store: VectorStore, video_id: str) -> Path:
    """The registered file of an indexed video (NotFound for unknown ids, VideoFileUnavailable without a file)."""
    return record_file(store.get_video(video_id))


@dataclass(frozen=True)
class Thumbnail:
    """A cached JPEG and the validator the browser revalidates it with."""

    path: Path
    etag: str


def _thumb_time(t: float, duration: float | None) -> float:
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise InvalidInput(f"thumbnail time must be a finite number of seconds >= 0, got {t}")
    if duration is not None and duration > 0:
        t = min(t, duration)
    return round(round(t / THUMB_TIME_STEP) * THUMB_TIME_STEP, 3)


class ThumbnailCache:
    """Frames as JPEGs on disk, keyed by video, file version, time and size: made once, served many times."""

    def __init__(self, folder: Path, short_side: int = THUMB_SHORT_SIDE) -> None:
        self.folder = Path(folder)
        self.short_side = short_side

    def key(self, record: VideoRecord, path: Path, t: float) -> str:
        """Changes whenever the video's file or its index does, so a stale frame is never served."""
        stat = path.stat()
        version = f"{record.content_hash or record.indexed_at}\x00{stat.st_size}\x00{stat.st_mtime_ns}"
        raw = f"{record.video_id}\x00{version}\x00{t:.3f}\x00{self.short_side}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, store: VectorStore, video_id: str, t: float) -> Thumbnail:
        """The thumbnail of `video_id` at `t` seconds, extracted from the video file on a cache miss."""
        record = store.get_video(video_id)
        path = record_file(record)
        t = _thumb_time(t, record.duration)
        key = self.key(record, path, t)
        target = self.folder / key[:2] / f"{key}.jpg"
        if not target.is_file():
            self._render(path, t, target)
        return Thumbnail(target, f'"{key[:32]}"')

    def _render(self, video: Path, t: float, target: Path) -> None:
        from PIL import Image

        from framesearch.ingest.video import frame_at

        pixels = frame_at(video, t, self.short_side)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                Image.fromarray(pixels).save(handle, "JPEG", quality=THUMB_QUALITY, optimize=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
