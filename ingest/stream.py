"""Live ingest: a stream's sampled frames are embedded as they arrive and committed in short chunks, each chunk one
run of the store's write protocol (`store.run`, store/writes.py), so a search finds what aired seconds ago.

A stream is one video of the library. Its stream time (`timestamp`) is seconds of wall clock since the stream was
first ingested (kept in its record, so a restarted ingest continues it), and every point also stores the wall-clock
time it aired (`wall_time`). A chunk's run first merges the previous chunk into the stream's base run (and, with
`keep`, retires what is older: `merge_chunks`), then writes its frames and commits the record naming it, so each
chunk is a normal commit (the frames of the committed run are the new ones) and a crash anywhere leaves the store
consistent: the uncommitted chunk is rolled back by the next open or a store check.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from queue import Empty
from typing import Any

import numpy as np
from pydantic import BaseModel

from framesearch.embedders.base import ImageEmbedder, recorded_name
from framesearch.errors import InvalidInput, NotFound
from framesearch.ingest.stream_source import LiveFrame, LiveReader, shown_url
from framesearch.store.base import VectorStore
from framesearch.store.filters import StoredPoint
from framesearch.store.schema import FramePoint, VideoRecord, point_id
from framesearch.validation import check_video_id
from framesearch.vectors import normalize

CHUNK_S = 3.0  # seconds of stream per commit
BATCH = 16  # frames embedded at once
SOURCE = "stream"
Say = Callable[[str], None]
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds of a duration such as `90`, `90s`, `15m`, `24h`, `7d` (positive)."""
    match = DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise InvalidInput(f"not a duration: {text!r} (use e.g. 90s, 15m, 24h, 7d)")
    return float(match.group(1)) * UNITS[match.group(2).lower()]


def stream_video_id(url: str) -> str:
    """A default video id for a stream: its host and path, made safe (`news.example-live-index`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    text = f"{parts.hostname or ''}{parts.path}".strip("/") or "stream"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return f"stream-{safe}"[:120] or "stream"


class StreamReport(BaseModel):
    """What a stream ingest did: frames committed, chunks, reconnections, frames retired by retention."""

    video_id: str
    url: str
    frames: int = 0
    chunks: int = 0
    drops: int = 0
    expired: int = 0
    dropped_frames: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class StreamOptions:
    """How to ingest one stream: where, as which video, at what rate, how much to keep, for how long."""

    url: str
    video_id: str | None = None
    fps: float = 2.0
    keep: float | None = None  # seconds of stream kept (older chunks are retired), None: all
    stop_after: float | None = None  # seconds of wall clock, None: until stopped
    chunk_s: float = CHUNK_S

    def __post_init__(self) -> None:
        self.video_id = self.video_id or stream_video_id(self.url)
        check_video_id(self.video_id)
        if self.keep is not None and self.keep <= 0:
            raise InvalidInput("keep must be a positive duration")


@dataclass
class Pending:
    """Embedded frames waiting for the next commit."""

    walls: list[float] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)


class StreamIngest:
    """One stream ingest: `run()` reads, embeds and commits until `stop` is set or `stop_after` passes, then commits
    what was embedded. `say` hears what a user should know (playing, dropped, reconnecting)."""

    def __init__(
        self,
        store: VectorStore,
        embedder: ImageEmbedder,
        options: StreamOptions,
        say: Say | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.on_commit = on_commit
        self.embedder = embedder
        self.options = options
        self.video_id: str = options.video_id or ""
        self.say: Say = say or (lambda _text: None)
        self.stop = threading.Event()
        self.report = StreamReport(video_id=self.video_id, url=shown_url(options.url))
        self.name = ""
        self.chunks = ChunkWriter(store, self.video_id, url=options.url, fps=options.fps, keep=options.keep)

    def run(self) -> StreamReport:
        start, cpu = time.monotonic(), time.process_time()
        self._prepare()
        reader = LiveReader(self.options.url, self.options.fps, self.embedder.input_size, self.say).start()
        pending = Pending()
        last_commit = time.monotonic()
        try:
            while not self._done(start):
                self._embed(self._take(reader, BATCH, timeout=0.2), pending)
                if time.monotonic() - last_commit >= self.options.chunk_s:
                    self._commit(pending)
                    pending, last_commit = Pending(), time.monotonic()
                    self.report.drops, self.report.dropped_frames = reader.drops, reader.dropped_frames
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            reader.close()
            try:  # what was sampled before the stop is embedded and committed too
                self._embed(self._take(reader, reader.frames.qsize(), timeout=0), pending)
            finally:
                self._commit(pending, final=True)
                self.report.drops, self.report.dropped_frames = reader.drops, reader.dropped_frames
                self.report.seconds = round(time.monotonic() - start, 3)
                self.report.cpu_seconds = round(time.process_time() - cpu, 3)
        return self.report

    def _done(self, start: float) -> bool:
        after = self.options.stop_after
        return self.stop.is_set() or (after is not None and time.monotonic() - start >= after)

    def _prepare(self) -> None:
        """The stream's record if it was ingested before (its epoch and frame numbers continue), and the collection."""
        try:
            record = self.store.get_video(self.video_id)
        except NotFound:
            record = None
        if record is not None and not record.base_run:
            raise InvalidInput(f"video {self.video_id!r} is a file in the library, not a stream: choose another --video-id")
        self.chunks.record = record
        info = self.store.info()
        self.name = recorded_name(self.embedder, info.model if info else None)
        dim = int(getattr(self.embedder, "dim", 0) or 0)
        if dim:
            self.store.ensure_collection(self.name, dim, self.embedder.model_path)

    def _take(self, reader: LiveReader, most: int, timeout: float) -> list[LiveFrame]:
        frames: list[LiveFrame] = []
        try:
            if timeout:
                frames.append(reader.frames.get(timeout=timeout))
            while len(frames) < most:
                frames.append(reader.frames.get_nowait())
        except Empty:
            pass
        return frames

    def _embed(self, frames: list[LiveFrame], pending: Pending) -> None:
        if frames:
            vectors = self.embedder.embed_images([f.image for f in frames])
            pending.walls += [f.wall for f in frames]
            pending.vectors += list(vectors)

    def _commit(self, pending: Pending, final: bool = False) -> None:
        if not pending.walls and (self.chunks.record is None or self.options.keep is None or final):
            return
        if pending.vectors:
            dim = int(pending.vectors[0].shape[-1])
            self.store.ensure_collection(self.name, dim, self.embedder.model_path)
        self.chunks.model = self.name
        before = self.chunks.record.frames if self.chunks.record else 0
        record = self.chunks.commit(pending.walls, pending.vectors)
        self.report.frames += len(pending.walls)
        self.report.expired += max(0, before + len(pending.walls) - record.frames)
        self.report.chunks += 1
        if self.on_commit is not None:
            self.on_commit()


class ChunkWriter:
    """Commits the chunks of one stream (a video of the library), each as one run of the store's write protocol."""

    def __init__(
        self,
        store: VectorStore,
        video_id: str,
        *,
        url: str,
        fps: float,
        keep: float | None = None,
        model: str = "",
        record: VideoRecord | None = None,
    ) -> None:
        self.store = store
        self.video_id = video_id
        self.url = shown_url(url)
        self.fps = fps
        self.keep = keep
        self.model = model
        self.record = record

    def commit(self, walls: list[float], vectors: list[np.ndarray]) -> VideoRecord:
        """One chunk (frames that aired at `walls`, Unix seconds): a run that merges the previous chunk into the
        stream's base run, retiring what `keep` no longer holds, writes the new frames and commits the record
        naming the run. With no frames it only retires (a stream off the air still ages)."""
        dim = int(vectors[0].shape[-1]) if vectors else 1
        extra = dict(self.record.extra.get("stream", {})) if self.record else {}
        epoch = float(extra.get("epoch") or (min(walls) if walls else time.time()))
        first = int(extra.get("next_frame", 0))
        newest = max(walls, default=float(extra.get("last_wall", epoch)))
        expire = (newest - epoch - self.keep) if self.keep is not None else None
        with self.store.run(self.video_id, frames=len(walls), dim=dim) as run:
            kept = self.store.merge_chunks(self.video_id, expire) if self.record else 0
            base = self.record.base_run if self.record and self.record.base_run else run.id
            points = self._points(walls, vectors, epoch, first, base, run.id)
            run.put_points(points)
            record = self._record(run.id, base, kept + len(points), epoch, first + len(points), newest)
            run.commit(record)
        self.record = record
        return record

    def _points(
        self, walls: list[float], vectors: list[np.ndarray], epoch: float, first: int, base: str, run: str
    ) -> list[StoredPoint]:
        if not vectors:
            return []
        unit = normalize(np.stack(vectors).astype(np.float32))
        out = []
        for i, (wall, vector) in enumerate(zip(walls, unit, strict=True)):
            point = FramePoint(self.video_id, first + i, wall - epoch, vector, self.fps, self.model, SOURCE, wall)
            out.append(StoredPoint(point_id(self.video_id, first + i, base), point.payload(run), vector.tolist()))
        return out

    def _record(self, run: str, base: str, frames: int, epoch: float, next_frame: int, newest: float) -> VideoRecord:
        stream: dict[str, Any] = {
            "url": self.url,
            "epoch": epoch,
            "epoch_utc": datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds"),
            "next_frame": next_frame,
            "last_wall": newest,
            "keep_s": self.keep,
        }
        previous = self.record
        return VideoRecord(
            video_id=self.video_id,
            model=self.model,
            source=SOURCE,
            frames=frames,
            fps=self.fps,
            duration=round(newest - epoch, 4),
            indexed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ingest_run=run,
            base_run=base,
            extra={**(previous.extra if previous else {}), "stream": stream},
        )
