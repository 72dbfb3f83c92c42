"""Playback for browsers: a video's own file when browsers play its container and codecs, else a browser-playable
rendition (H.264/AAC in MP4) transcoded once with PyAV in the background and kept in a cache bounded in size.

Whole-file renditions rather than on-the-fly ranges: byte ranges of a stream encoded on demand are not stable from
one request to the next, while a finished file gives exact ranges, seeking and caching for free (one wait per video).
No web code: the route in service.web turns `Ready` into a ranged file answer and `Preparing` into 202.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from cachetools import LRUCache

from framesearch.errors import FrameSearchError
from framesearch.files import atomic_path
from framesearch.ingest.video import BestEffortClock
from framesearch.service.media import record_file
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord

log = logging.getLogger(__name__)
KEPT = 256  # videos whose playability or failure is remembered

# What every current browser (Chrome, Edge, Firefox, Safari) plays, by file type: video codecs, audio codecs.
PLAYABLE = {
    ".mp4": ({"h264", "av1"}, {"aac", "mp3", "mp3float"}),
    ".m4v": ({"h264", "av1"}, {"aac", "mp3", "mp3float"}),
    ".mov": ({"h264"}, {"aac", "mp3", "mp3float"}),
    ".webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}
EIGHT_BIT_420 = {"yuv420p", "yuvj420p", None}  # browsers decode 8-bit 4:2:0 H.264 only
SERVED_AS = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm"}
RENDITION_TYPE = "video/mp4"
MAX_SHORT_SIDE = 720  # renditions are for watching a moment in a page, not archiving
VIDEO_OPTIONS = {"preset": "veryfast", "crf": "23", "tune": "fastdecode"}
AUDIO_RATE = 48_000
MS = Fraction(1, 1000)
MAX_WAITING = 8  # renditions queued or being made at once: a flood of distinct videos waits its turn (503)


class VideoNotPlayable(FrameSearchError):
    """A video's file cannot be decoded, so no browser-playable copy of it can be made."""

    http_status = 422


class PlaybackBusy(FrameSearchError):
    """Too many playable copies are being made already: ask again later."""

    http_status = 503


class Stopped(Exception):
    """The service stops while a rendition is being made."""


@dataclass(frozen=True)
class Ready:
    """A file to serve as it is, with range requests."""

    path: Path
    media_type: str
    rendition: bool


@dataclass(frozen=True)
class Preparing:
    """A rendition being made (or queued); `progress` is 0-1 when the video's length is known."""

    progress: float | None
    queued: bool


def browser_playable(path: Path) -> bool:
    """Whether browsers play this file as it is: its type, its first video stream's codec and its audio's."""
    wanted = PLAYABLE.get(path.suffix.lower())
    if wanted is None:
        return False
    import av.error

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return False
            video = container.streams.video[0].codec_context
            video_ok = video.name in wanted[0] and (video.name != "h264" or video.pix_fmt in EIGHT_BIT_420)
            audio_ok = all(s.codec_context.name in wanted[1] for s in container.streams.audio)
            return video_ok and audio_ok
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _target_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SHORT_SIDE / max(1, min(width, height)))
    return _even(round(width * scale)), _even(round(height * scale))


def _video_stream(out, vin, width: int, height: int):
    from fractions import Fraction

    vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or Fraction(25))
    vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
    vout.codec_context.time_base = vout.time_base = MS  # frames keep their own times, however irregular
    vout.options = dict(VIDEO_OPTIONS)
    return vout


def transcode(source: Path, target: Path, progress=lambda fraction: None) -> None:
    """Write `source` as H.264/AAC MP4 to `target` on the index's timeline: video time 0 is the video stream's
    start, frame times as ingest reads them (FFmpeg's best-effort clock), so seeking to an indexed time is exact."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        base, origin = vin.time_base or Fraction(1, 1_000_000), vin.start_time or 0
        duration = float(inp.duration / 1_000_000) if inp.duration else None
        width, height = _target_size(vin.codec_context.width, vin.codec_context.height)
        vout = _video_stream(out, vin, width, height)
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = resampler = None
        if ain is not None:
            aout = out.add_stream("aac", rate=AUDIO_RATE)
            aout.layout = "stereo"
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        offset = float(origin * base)  # the video stream's first time: 0 s in the index and in the rendition
        clock, last_ms, samples = BestEffortClock(), -1, None
        for packet in inp.demux(*(s for s in (vin, ain) if s is not None)):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):  # a frame of `vin`
                    ticks = clock.guess(frame.pts, getattr(frame, "dts", None))
                    ms = round(float((ticks - origin) * base) * 1000) if ticks is not None else last_ms + 1
                    if ms <= last_ms:  # a repeated timestamp: keep the stream monotonic
                        continue
                    last_ms = ms
                    image = frame.reformat(width=width, height=height, format="yuv420p")
                    image.pts, image.time_base = ms, MS
                    out.mux(vout.encode(image))
                    if duration:
                        progress(min(1.0, max(0.0, ms / 1000 / duration)))
                elif isinstance(frame, av.AudioFrame) and resampler is not None and aout is not None:  # of `ain`
                    if frame.time is None or frame.time < offset:
                        continue
                    for chunk in resampler.resample(frame):
                        samples = round((frame.time - offset) * AUDIO_RATE) if samples is None else samples
                        chunk.pts, chunk.time_base = samples, Fraction(1, AUDIO_RATE)
                        samples += chunk.samples
                        out.mux(aout.encode(chunk))
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))
    if last_ms < 0:
        raise VideoNotPlayable("the video has no decodable frames")


class Playback:
    """Decides what /play serves and makes renditions one at a time, in the background, into `folder`.

    The folder holds at most `max_bytes` of finished renditions (least recently played go first); a rendition's
    name changes whenever the video's file or index does, so a replaced video is never served stale.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framesearch-play")
        self._jobs: dict[str, Preparing] = {}
        self._failed: LRUCache[str, str] = LRUCache(maxsize=KEPT)  # why a video's rendition failed
        self._playable: LRUCache[tuple, bool] = LRUCache(maxsize=KEPT)  # whether a file plays as it is
        self._stop = threading.Event()
        self._remove_partial()
        self._evict(keep=None)  # a lowered limit applies at once

    def _remove_partial(self) -> None:
        for part in self.folder.glob("*.part"):
            part.unlink(missing_ok=True)

    def key(self, record: VideoRecord, path: Path) -> str:
        stat = path.stat()
        raw = f"{record.video_id}\x00{record.content_hash or record.indexed_at}\x00{stat.st_size}\x00{stat.st_mtime_ns}"
        return hashlib.sha256(raw.encode()).hexdigest()[:40]

    def _is_playable(self, path: Path) -> bool:
        stat = path.stat()
        version = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._playable.get(version)
        if known is not None:
            return known
        playable = browser_playable(path)
        with self._lock:
            self._playable[version] = playable
        return playable

    def get(self, store: VectorStore, video_id: str) -> Ready | Preparing:
        """The file to play for `video_id`, or how far its rendition is (starting it if nobody has)."""
        record = store.get_video(video_id)
        path = record_file(record)
        if self._is_playable(path):
            return Ready(path, SERVED_AS[path.suffix.lower()], rendition=False)
        key = self.key(record, path)
        target = self.folder / f"{key}.mp4"
        with self._lock:
            if key in self._failed:
                raise VideoNotPlayable(self._failed[key])
            if key in self._jobs:
                return self._jobs[key]
            if target.is_file():
                try:
                    os.utime(target)  # recently played: evicted last
                except OSError:
                    pass
                return Ready(target, RENDITION_TYPE, rendition=True)
            if len(self._jobs) >= MAX_WAITING:
                raise PlaybackBusy(f"{MAX_WAITING} playable copies of other videos are being made; ask again in a minute")
            state = self._jobs[key] = Preparing(0.0, queued=bool(self._jobs))
        self._pool.submit(self._make, key, path, target)
        return state

    def _make(self, key: str, source: Path, target: Path) -> None:
        def progress(fraction: float) -> None:
            if self._stop.is_set():
                raise Stopped("the service is stopping")
            with self._lock:
                self._jobs[key] = Preparing(round(fraction, 3), queued=False)

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            progress(0.0)
            with atomic_path(target) as part:  # removed if the transcode fails, is stopped or is too large
                transcode(source, part, progress)
                size = part.stat().st_size
                if size > self.max_bytes:  # alone past the cache's size: never kept, said once
                    raise VideoNotPlayable(
                        f"its browser-playable copy would take {size / MB:.1f} MB, more than the playback "
                        f"cache holds ({self.max_bytes / MB:g} MB, PLAYBACK_CACHE_MB)"
                    )
                self._evict(keep=None, adding=size)  # room first: the folder never holds more than the limit
        except Stopped:
            pass
        except Exception as exc:  # any failure is this video's: remembered, reported to whoever asks
            log.warning("cannot make a playable copy of %s: %s", source, exc)
            with self._lock:
                self._failed[key] = _why(exc)
        finally:
            with self._lock:
                self._jobs.pop(key, None)

    def _evict(self, keep: Path | None, adding: int = 0) -> None:
        """Drop the least recently played renditions until the folder fits, with `adding` bytes more (never `keep`)."""
        files = []
        for path in self.folder.glob("*.mp4"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime_ns, path, stat.st_size))
        total = sum(size for _, _, size in files) + adding
        for _, path, size in sorted(files):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

    def close(self) -> None:
        """Stop: a rendition being made is abandoned (its partial file removed), queued ones never start."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


MB = 1024 * 1024


def _why(exc: Exception) -> str:
    if isinstance(exc, FrameSearchError):
        return str(exc)
    return "its file cannot be decoded, so no browser-playable copy can be made"
