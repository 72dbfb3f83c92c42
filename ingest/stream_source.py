"""A live source read by FFmpeg (PyAV): HLS over HTTP, RTSP, UDP MPEG-TS, SRT, a growing file. Frames are sampled at
`fps` in the source's own time and given the wall-clock time they aired; a dropped source is reopened with backoff.

The reader runs in its own thread and hands `LiveFrame`s to the ingest through a bounded queue. Each connection
anchors the source's clock to the wall clock at its first frame, and again whenever the source runs ahead of the
wall clock (the burst of buffered segments an HLS player reads first) or falls behind it by more than DRIFT_S. An
outage shows as a wall-clock gap between frames: a gap in the index, which the search core never bridges when it
is longer than its bridge (search/segments.py).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from framesearch.errors import InvalidInput

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0  # connecting / reading a playlist
FILE_OPEN_TIMEOUT_S = 2.0  # a growing file (see _open)
READ_TIMEOUT_S = 5.0  # no data for this long: the source dropped
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # waits before each reconnection try (the last repeats)
DRIFT_S = 10.0  # the source's clock this far behind the wall clock: re-anchor (a discontinuity, a stall)
AHEAD_S = 0.5  # ... or this far ahead (a burst of buffered segments at connection, read faster than real time)
SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "udp", "rtp", "srt", "tcp", "file")

Say = Callable[[str], None]


@dataclass(frozen=True)
class LiveFrame:
    """One sampled frame of a live source: when it aired (Unix seconds, UTC) and its RGB pixels."""

    wall: float
    image: np.ndarray


def shown_url(url: str) -> str:
    """The URL without its user and password (what logs, records and answers show)."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_source(url: str) -> str:
    """The URL FFmpeg is given: a URL of a streaming scheme, or a local path (a growing file, read as it grows)."""
    if not url or not url.strip():
        raise InvalidInput("a stream URL is needed")
    scheme = urlsplit(url).scheme.lower()
    if scheme in SCHEMES:
        return url
    if scheme and len(scheme) > 1:
        raise InvalidInput(f"unsupported stream scheme {scheme!r}: use one of {', '.join(SCHEMES)}, or a file path")
    return f"file:{Path(url).resolve()}"


def _open(url: str) -> Any:
    import av

    # probe one second of a live source, not FFmpeg's five: the frames of the probe come at once, as a burst
    options = {"analyzeduration": "1000000"}
    if url.startswith("file:"):
        options["follow"] = "1"  # a growing file: wait for more at its end
    if url.startswith(("udp:", "rtp:")):
        options["overrun_nonfatal"] = "1"
    if url.startswith(("rtsp:", "rtsps:")):
        options["rtsp_transport"] = "tcp"
    # a growing file: FFmpeg's probe waits at its end until interrupted, then plays on; a short open timeout ends it
    opening = FILE_OPEN_TIMEOUT_S if url.startswith("file:") else OPEN_TIMEOUT_S
    return av.open(url, options=options, timeout=(opening, READ_TIMEOUT_S))


class LiveReader:
    """Reads `url` in a thread until `stop` is set, sampling `fps` frames a second into `frames` (bounded: a slow
    model drops the oldest unsampled work, never the connection). `say` hears drops and reconnections."""

    def __init__(self, url: str, fps: float, short_side: int | None, say: Say, depth: int = 64) -> None:
        if not fps or fps <= 0 or not math.isfinite(fps):
            raise InvalidInput(f"fps must be a positive finite number, got {fps}")
        self.url = check_source(url)
        self.fps = fps
        self.short_side = short_side
        self.say = say
        self.frames: queue.Queue[LiveFrame] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.drops = 0  # times the source dropped (or could not be opened) after it first played
        self.dropped_frames = 0  # sampled frames dropped because the model fell behind
        self._thread = threading.Thread(target=self._run, name="framesearch-stream", daemon=True)

    def start(self) -> LiveReader:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=READ_TIMEOUT_S + 2)

    def _run(self) -> None:
        tries = 0
        last_wall = 0.0
        while not self.stop.is_set():
            try:
                last_wall, played = self._play(last_wall)
                reason = "the stream ended"
            except Exception as exc:  # an FFmpeg error, a timeout: the source dropped
                played, reason = False, _why(exc)
            if self.stop.is_set():
                return
            tries = 0 if played else tries + 1
            self.drops += 1
            wait = BACKOFF_S[min(tries, len(BACKOFF_S) - 1)]
            self.say(f"stream {shown_url(self.url)} dropped ({reason}); reconnecting in {wait:g} s")
            self.connected.clear()
            self.stop.wait(wait)

    def _play(self, last_wall: float) -> tuple[float, bool]:
        """One connection: sample frames until the source ends, fails or `stop`. Returns the last frame's wall time
        and whether any frame came."""
        from av.video.reformatter import VideoReformatter

        from framesearch.ingest.video import _pixels

        container = _open(self.url)
        played = False
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            base = stream.time_base or Fraction(1, 90_000)
            scale = VideoReformatter()
            anchor: tuple[float, float] | None = None  # (source seconds, wall seconds) of the connection's first frame
            due = last_wall + 1.0 / self.fps
            for frame in container.decode(stream):
                if self.stop.is_set():
                    break
                now = time.time()
                source = float(frame.pts * base) if frame.pts is not None else None
                if anchor is None or source is None or not -DRIFT_S < anchor[1] + (source - anchor[0]) - now < AHEAD_S:
                    anchor = (source if source is not None else 0.0, now)
                wall = anchor[1] + ((source - anchor[0]) if source is not None else 0.0)
                if not played:
                    played = True
                    self.connected.set()
                    self.say(f"stream {shown_url(self.url)} playing ({stream.codec_context.name}, {frame.width}x{frame.height})")
                if wall + 1e-3 < due:
                    continue
                due = max(due + 1.0 / self.fps, wall + 0.5 / self.fps)
                last_wall = wall
                self._hand(LiveFrame(wall, _pixels(scale, frame, self.short_side)))
        finally:
            container.close()
        return last_wall, played

    def _hand(self, frame: LiveFrame) -> None:
        while not self.stop.is_set():
            try:
                self.frames.put(frame, timeout=0.2)
                return
            except queue.Full:
                try:
                    self.frames.get_nowait()  # the model is behind: the oldest waiting frame goes
                    self.dropped_frames += 1
                except queue.Empty:
                    pass


def _why(exc: BaseException) -> str:
    from framesearch.ingest.video import why

    text = why(exc)
    return text if text else type(exc).__name__
