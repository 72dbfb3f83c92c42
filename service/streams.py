"""Live streams the service watches (`POST /streams`): each one a stream ingest (ingest/stream.py) in its own thread,
the list kept beside the library (`streams.json` in the work folder, written atomically) so that a restarted
service watches them again.

Which sources a client may name follows the URL jobs' rule (service/fetch.py): an http(s) URL must reach a public
address unless its host is in `url_allow_hosts`; every other scheme (rtsp, udp, srt, ...) is read only from hosts
named there, and files on the service's machine never. FFmpeg does its own connecting, so the address is checked
when the stream is added and at each (re)start, not at every connection it makes: see docs/monitoring.md.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from framesearch.errors import Forbidden, FrameSearchError, InvalidInput, NotFound
from framesearch.files import write_atomic
from framesearch.ingest.stream import StreamIngest, StreamOptions, StreamReport, parse_duration, stream_video_id
from framesearch.ingest.stream_source import SCHEMES, shown_url
from framesearch.service.fetch import ALLOW_HINT, check_url, host_allowed, is_public
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.validation import Fps, VideoId

log = logging.getLogger(__name__)
INDEX_EVERY_S = 600.0  # a watched stream asks for a search index build at most this often
RETRY_S = 30.0  # a stream whose ingest failed (not a dropped source: that reconnects by itself) starts again after this

Status = Literal["starting", "playing", "reconnecting", "stopped", "failed"]


class StreamRequest(BaseModel):
    """A stream to watch: its URL, and optionally its video id, sampling rate and how much of it to keep."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=4096, description="Stream URL: http(s) HLS, rtsp, udp, srt, ...")
    video_id: VideoId | None = Field(default=None, description="Its id in the library (default: from the URL).")
    fps: Fps = 2.0
    keep: str | None = Field(default=None, max_length=32, description="How much to keep, e.g. 24h (default: all).")


class StreamSpec(BaseModel):
    """A watched stream as persisted: the request with its id and when it was added."""

    url: str
    video_id: VideoId
    fps: Fps = 2.0
    keep: str | None = None
    added_at: str


class StreamInfo(BaseModel):
    """A watched stream and how it is doing (the URL shown without credentials)."""

    video_id: str
    url: str
    fps: float
    keep: str | None
    added_at: str
    status: Status
    frames: int = Field(0, description="Frames committed since the service started watching it.")
    drops: int = Field(0, description="Times the source dropped and was reconnected.")
    detail: str | None = Field(None, description="The last thing said about it (playing, dropped, an error).")


class StreamList(BaseModel):
    count: int
    streams: list[StreamInfo]


_SPECS = TypeAdapter(list[StreamSpec])


def check_stream_url(url: str, allow_hosts: list[str]) -> None:
    """The URL jobs' rule for stream sources (see the module's docstring)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        check_url(url, allow_hosts)
        host = parts.hostname or ""
        if not host_allowed(host, allow_hosts):
            _check_resolves_public(host, parts.port or (443 if scheme == "https" else 80))
        return
    if scheme not in SCHEMES or scheme == "file":
        raise InvalidInput(f"a stream URL must use one of {', '.join(s for s in SCHEMES if s != 'file')}")
    if not parts.hostname or not host_allowed(parts.hostname, allow_hosts):
        raise Forbidden(f"refusing to read a {scheme} stream from {parts.hostname or 'an unnamed host'} ({ALLOW_HINT})")


def _check_resolves_public(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot resolve {host}: {exc}") from None
    blocked = [a for *_, (a, *_) in infos if isinstance(a, str) and not is_public(a)]
    if blocked or not infos:
        raise Forbidden(f"refusing to read a stream from {host}: it resolves to a non-public address ({ALLOW_HINT})")


class Watched:
    """One watched stream's thread and what it last said."""

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.ingest: StreamIngest | None = None
        self.thread: threading.Thread | None = None
        self.status: Status = "starting"
        self.detail: str | None = None
        self.frames = 0
        self.stopping = threading.Event()

    def info(self) -> StreamInfo:
        report = self.ingest.report if self.ingest else StreamReport(video_id=self.spec.video_id, url="")
        frames, drops = self.frames + report.frames, report.drops
        spec = self.spec
        return StreamInfo(
            video_id=spec.video_id,
            url=shown_url(spec.url),
            fps=spec.fps,
            keep=spec.keep,
            added_at=spec.added_at,
            status=self.status,
            frames=frames,
            drops=drops,
            detail=self.detail,
        )

    def say(self, text: str) -> None:
        self.detail = text
        if "playing" in text:
            self.status = "playing"
        elif "reconnecting" in text:
            self.status = "reconnecting"
        log.info("%s", text)


class StreamManager:
    """The service's watched streams: started at service start (from the persisted list), added and removed by the
    API. With several service processes sharing the work folder, only the one holding the streams lock runs them."""

    def __init__(self, settings: Settings, store: VectorStore, image_embedder: Callable[[], Any], on_commit: Callable[[], None]):
        self.settings, self.store = settings, store
        self._embedder = image_embedder
        self._on_commit = on_commit
        self.path: Path = settings.work_dir / "streams.json"
        self._watched: dict[str, Watched] = {}
        self._lock = threading.RLock()
        self._runner: Any = None
        self._last_index = time.monotonic()

    def start(self) -> StreamManager:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path.parent / "streams.lock", "a")
        except OSError as exc:  # a read-only data folder: no streams
            log.warning("streams are unavailable: cannot use %s: %s", self.path.parent, exc)
            return self
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another service process runs them
            handle.close()
            return self
        self._runner = handle
        for spec in self._load():
            self._start(spec)
        return self

    def stop(self) -> None:
        with self._lock:
            watched = list(self._watched.values())
        for w in watched:
            self._stop(w)
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def _load(self) -> list[StreamSpec]:
        try:
            return _SPECS.validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("cannot read the watched streams from %s: %s", self.path, exc)
            return []

    def _save(self) -> None:
        specs = [w.spec for w in self._watched.values()]
        write_atomic(self.path, _SPECS.dump_json(specs, indent=2), durable=True)

    def add(self, req: StreamRequest) -> StreamInfo:
        if self._runner is None:
            raise FrameSearchError("streams are unavailable in this service process (see its log)")
        check_stream_url(req.url, self.settings.url_allow_hosts)
        if req.keep is not None:
            parse_duration(req.keep)
        video_id = req.video_id or stream_video_id(req.url)
        self._check_not_a_file(video_id)
        added = datetime.now(UTC).isoformat(timespec="seconds")
        spec = StreamSpec(url=req.url, video_id=video_id, fps=req.fps, keep=req.keep, added_at=added)
        with self._lock:
            if video_id in self._watched:
                raise InvalidInput(f"stream {video_id!r} is already watched: delete it first to change it")
            watched = self._start(spec)
            self._save()
        return watched.info()

    def _check_not_a_file(self, video_id: str) -> None:
        try:
            record = self.store.get_video(video_id)
        except NotFound:
            return
        if not record.base_run:
            raise InvalidInput(f"video {video_id!r} is a file in the library, not a stream: choose another video_id")

    def list(self) -> list[StreamInfo]:
        with self._lock:
            if self._runner is None:  # another process runs them: what it persisted
                return [Watched(spec).info() for spec in self._load()]
            return [w.info() for w in self._watched.values()]

    def delete(self, video_id: str) -> StreamInfo:
        with self._lock:
            watched = self._watched.pop(video_id, None)
            if watched is None:
                raise NotFound(f"no stream {video_id!r} is watched")
            self._save()
        self._stop(watched)
        return watched.info()

    def _start(self, spec: StreamSpec) -> Watched:
        watched = Watched(spec)
        self._watched[spec.video_id] = watched
        watched.thread = threading.Thread(target=self._watch, args=(watched,), name=f"stream-{spec.video_id}", daemon=True)
        watched.thread.start()
        return watched

    def _stop(self, watched: Watched) -> None:
        watched.stopping.set()
        if watched.ingest is not None:
            watched.ingest.stop.set()
        if watched.thread is not None:
            watched.thread.join(timeout=60)
        watched.status = "stopped"

    def _watch(self, watched: Watched) -> None:
        """Run the stream's ingest until it is deleted or the service stops; start it again after a failure."""
        spec = watched.spec
        while not watched.stopping.is_set():
            try:
                check_stream_url(spec.url, self.settings.url_allow_hosts)  # the rule may have changed since it was added
                keep = parse_duration(spec.keep) if spec.keep else None
                options = StreamOptions(url=spec.url, video_id=spec.video_id, fps=spec.fps, keep=keep)
                ingest = StreamIngest(self.store, self._embedder(), options, say=watched.say, on_commit=self._committed)
                watched.ingest = ingest
                if watched.stopping.is_set():
                    return
                report = ingest.run()
                watched.frames += report.frames
                watched.ingest = None
            except Exception as exc:  # noqa: BLE001  (a failed stream must not end the service: it says why)
                watched.status, watched.detail = "failed", str(exc) if isinstance(exc, FrameSearchError) else type(exc).__name__
                log.warning("stream %s failed: %s", spec.video_id, exc)
                watched.stopping.wait(RETRY_S)

    def _committed(self) -> None:
        if time.monotonic() - self._last_index >= INDEX_EVERY_S:
            self._last_index = time.monotonic()
            self._on_commit()
