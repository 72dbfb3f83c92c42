"""Video decoding with PyAV: probe a file, and sample frames at a requested rate on the real timestamps.

Timestamps come from each frame's presentation time (pts x time base), measured from the stream's
start, so variable frame rates, odd time bases and streams without a duration are all handled. The
first frame at or after each multiple of 1/fps is kept.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from framesearch.errors import InvalidInput

VIDEO_TYPES = {  # video file extensions and the Content-Type each is served with
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".ts": "video/mp2t",
    ".gif": "image/gif",
    ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv",
}
VIDEO_EXTENSIONS = tuple(VIDEO_TYPES)


TIME_EPSILON = 1e-4


class BestEffortClock:
    """FFmpeg's best-effort timestamp: a frame's pts, unless pts have gone backwards more often than dts.

    Some files (e.g. with broken B-frame reordering) carry non-monotonic pts; FFmpeg then trusts dts.
    """

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def guess(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


class DecodeError(InvalidInput):
    """A file is not a decodable video (or breaks while decoding)."""


def why(exc: BaseException) -> str:
    """FFmpeg's (or the OS's) reason in words, without errno numbers or the file name the message already has."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else str(exc)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says of a video's first video stream (duration may be unknown)."""

    path: Path
    width: int
    height: int
    fps: float | None
    duration: float | None
    frame_count: int | None
    codec: str

    @classmethod
    def from_video_path(cls, path: Path) -> VideoInfo:
        container = open_video(path)
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            return cls(
                path=Path(path),
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=float(rate) if rate else None,
                duration=duration,
                frame_count=stream.frames or None,
                codec=stream.codec_context.name,
            )
        finally:
            container.close()


@dataclass
class DecodeTrack:
    """How far decoding got: frames decoded, where the last one ends (s), and the error that stopped it, if any."""

    frames: int = 0
    until: float = 0.0
    error: str | None = None

    def saw(self, timestamp: float, frame_duration: float) -> None:
        self.frames += 1
        self.until = max(self.until, round(timestamp + frame_duration, 4))

    def stopped(self, exc: Exception) -> bool:
        """Note a decoding error; True when frames came before it (keep them), False when nothing decoded."""
        if self.frames == 0:
            return False
        self.error = str(exc)[:200]
        return True


def frame_seconds(frame, base: Fraction, step: float) -> float:
    """A decoded frame's duration in seconds (its own when the container says, else one frame step)."""
    duration = getattr(frame, "duration", None)
    return float(duration * base) if duration else step


def truncation_warning(path: Path, duration: float | None, track: DecodeTrack, video_step: float | None) -> str | None:
    """Say how much of a video was read, when decoding stopped early or ended well before the container's end."""
    if track.error:
        of = f" of {duration:.2f} s" if duration else ""
        return f"{path.name}: decoding stopped at {track.until:.2f} s{of} ({track.error}); indexed what was read"
    tolerance = max(1.0, 2 * (video_step or 0))
    if duration and duration - track.until > tolerance:
        return f"{path.name}: only {track.until:.2f} s of {duration:.2f} s could be decoded (truncated?); indexed what was read"
    return None


@dataclass(frozen=True)
class SampledFrame:
    """One kept frame: its index among decoded frames, its time (s) and its RGB pixels."""

    index: int
    timestamp: float
    image: np.ndarray


def open_video(path: Path):
    """Open a container that has a video stream, or raise DecodeError naming the file."""
    import av.error

    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(f"{path}: not a readable video ({why(exc)})") from None
    if not container.streams.video:
        container.close()
        raise DecodeError(f"{path}: has no video stream")
    return container


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def sample_frames(
    path: Path,
    fps: float,
    short_side: int | None = None,
    on_frame: Callable[[Any, float], None] | None = None,
    track: DecodeTrack | None = None,
) -> Iterator[SampledFrame]:
    """Yield the first frame at or after each multiple of 1/fps; pixels scaled so the shorter side is `short_side`.
    `on_frame(frame, timestamp)` sees every decoded frame (shot cut detection rides on this one pass). With a
    `track`, every decoded frame is noted in it, and a decoding error after some frames ends the sampling
    (noted there) instead of failing it.

    When the stream's packets all carry distinct timestamps (nearly every file), the frames to keep are chosen
    from the packets first, and only what they need is decoded: groups of pictures holding no kept frame are
    not decoded at all, nor the rest of a group after its last kept frame, and non-reference frames (B-frames)
    that are not kept are skipped by the decoder. Only kept frames are converted, straight to the model's size.
    Otherwise, and whenever `on_frame` or `track` need every frame, every frame is decoded in order. Both give the
    same frames, indexes and timestamps."""
    if not fps or fps <= 0 or not math.isfinite(fps):
        raise InvalidInput(f"fps must be a positive finite number, got {fps}")
    plan = _plan(path, fps) if on_frame is None and track is None else None
    if plan is not None:
        return _decode_planned(path, plan, short_side)
    return _decode_all(path, fps, short_side, on_frame, track)


@dataclass(frozen=True)
class _Plan:
    """Frames to keep (pts -> index, timestamp), packets to decode (pts), key frames where those groups start."""

    keep: dict[int, tuple[int, float]]
    send: set[int]
    starts: list[int]


def _plan(path: Path, fps: float) -> _Plan | None:
    """Read the packets' timestamps (no decoding) and choose the kept frames; None when timestamps are unusable."""
    import av.error

    container = open_video(path)
    try:
        stream = container.streams.video[0]
        base, start = stream.time_base or Fraction(1, 1_000_000), stream.start_time or 0
        reorders = bool(stream.codec_context.has_b_frames)
        packets, reordered = [], False
        for p in container.demux(stream):
            if p.size:
                packets.append((p.pts, p.is_keyframe))
                reordered = reordered or p.pts != p.dts
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding failed ({why(exc)})") from None
    finally:
        container.close()
    stamps = [pts for pts, _ in packets]
    if not packets or None in stamps or len(set(stamps)) != len(stamps) or not packets[0][1]:
        return None
    if reorders and not reordered:  # B-frames without reordered timestamps: the decoder's own pts are not to be trusted
        return None
    keep: dict[int, tuple[int, float]] = {}
    next_slot = 0
    for index, pts in enumerate(sorted(stamps)):
        timestamp = float((pts - start) * base)
        if timestamp + TIME_EPSILON < next_slot / fps:
            continue
        next_slot = math.floor((timestamp + TIME_EPSILON) * fps) + 1
        keep[pts] = (index, round(max(timestamp, 0.0), 4))
    send = _packets_to_send(packets, keep)
    return _Plan(keep, send, [pts for pts, key in packets if key and pts in send])


def _packets_to_send(packets: list[tuple[int, bool]], keep: dict[int, tuple[int, float]]) -> set[int]:
    """The pts of packets to decode: each group of pictures up to its last kept frame (in decode order), and the
    whole previous group when a kept frame is shown before its group's key frame (open GOP: it may refer back)."""
    groups: list[list[int]] = []
    for pts, key in packets:
        if key or not groups:
            groups.append([])
        groups[-1].append(pts)
    send: set[int] = set()
    for number, group in enumerate(groups):
        kept = [i for i, pts in enumerate(group) if pts in keep]
        if not kept:
            continue
        send.update(group[: kept[-1] + 1])
        if number > 0 and min(group[i] for i in kept) < group[0]:
            send.update(groups[number - 1])
    return send


def _decode_planned(path: Path, plan: _Plan, short_side: int | None) -> Iterator[SampledFrame]:
    import av.error
    from av.video.reformatter import VideoReformatter

    container = open_video(path)
    scale = VideoReformatter()  # one scaler for every kept frame (a fresh one per frame costs as much as the scaling)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        context = stream.codec_context
        sought = -1  # a seek goes forward only: no second seek before passing the last target
        while True:
            target = None
            for packet in container.demux(stream):
                start = packet.pts
                if packet.size and start not in plan.send:
                    if packet.is_keyframe and start is not None and start > sought:  # a group with nothing to keep: jump past it
                        target = next((pts for pts in plan.starts if pts > start), -1)
                        break
                    continue
                if packet.size:
                    context.skip_frame = "DEFAULT" if packet.pts in plan.keep else "NONREF"
                yield from _kept(stream.decode(packet), plan, scale, short_side)
            if target is None:
                return  # the demuxer's last (flush) packet went through
            yield from _kept(stream.decode(None), plan, scale, short_side)  # drain before the decoder is reset
            if target < 0:
                return  # nothing more to keep: the rest of the file is not even read
            container.seek(target, stream=stream, backward=True, any_frame=False)
            sought = target
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding failed ({why(exc)})") from None
    finally:
        container.close()


def _kept(frames: Iterable[Any], plan: _Plan, scale: Any, short_side: int | None) -> Iterator[SampledFrame]:
    for frame in frames:
        if frame.pts in plan.keep:
            index, timestamp = plan.keep[frame.pts]
            yield SampledFrame(index, timestamp, _pixels(scale, frame, short_side))


def _pixels(scale: Any, frame: Any, short_side: int | None) -> np.ndarray:
    """RGB pixels of a frame, its shorter side scaled to `short_side` (bilinear: swscale filters downscaling)."""
    width, height = _scaled_size(frame.width, frame.height, short_side)
    return scale.reformat(frame, width, height, "rgb24", interpolation="BILINEAR").to_ndarray()


def _decode_all(
    path: Path,
    fps: float,
    short_side: int | None,
    on_frame: Callable[[Any, float], None] | None = None,
    track: DecodeTrack | None = None,
) -> Iterator[SampledFrame]:
    """Every frame decoded in order, timestamps from FFmpeg's best-effort clock (files without usable pts, or an
    `on_frame` or `track` that sees every frame)."""
    import av.error
    from av.video.reformatter import VideoReformatter

    container = open_video(path)
    scale = VideoReformatter()
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1_000_000)
        start = stream.start_time or 0
        step = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        next_slot, last_time = 0, -step
        clock = BestEffortClock()
        for index, frame in enumerate(container.decode(stream)):
            ticks = clock.guess(frame.pts, frame.dts)
            timestamp = float((ticks - start) * base) if ticks is not None else last_time + step
            last_time = timestamp
            if on_frame is not None:
                on_frame(frame, round(max(timestamp, 0.0), 4))
            if track is not None:
                track.saw(timestamp, frame_seconds(frame, base, step))
            if timestamp + TIME_EPSILON < next_slot / fps:
                continue
            next_slot = math.floor((timestamp + TIME_EPSILON) * fps) + 1
            yield SampledFrame(index, round(max(timestamp, 0.0), 4), _pixels(scale, frame, short_side))
    except av.error.FFmpegError as exc:
        if track is None or not track.stopped(exc):
            raise DecodeError(f"{path}: decoding failed ({why(exc)})") from None
    finally:
        container.close()


_DONE = object()


class Prefetch:
    """A frame generator run in a reader thread feeding a bounded queue, so decoding overlaps embedding. The
    thread starts at once (decoding goes on while the caller prepares the store); iterate it once, and close it
    (or use it as a context manager) when done or abandoned."""

    def __init__(self, frames: Iterator[Any], depth: int = 64) -> None:
        self._buffer: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._frames = frames
        self._thread = threading.Thread(target=self._read, name="framesearch-decode", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self._frames:
                if self._stop.is_set():
                    return
                self._buffer.put(item)
            self._buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._buffer.put(exc)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                item = self._buffer.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader (it ends at its next item) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._buffer.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch(frames: Iterator[SampledFrame], depth: int = 64) -> Iterator[SampledFrame]:
    """Iterate a frame generator run in a reader thread (`Prefetch`) started at the first item, closed when the
    iteration ends."""
    yield from Prefetch(frames, depth)


def frame_at(path: Path, timestamp: float, short_side: int | None = None) -> np.ndarray:
    """The RGB pixels of the frame shown at `timestamp` seconds (seek to the keyframe before, decode forward)."""
    import av.error

    container = open_video(path)
    try:
        stream = container.streams.video[0]
        base = stream.time_base or Fraction(1, 1_000_000)
        start = stream.start_time or 0
        target = max(float(timestamp), 0.0)
        container.seek(int(target / base) + start, stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            t = float((frame.pts - start) * base) if frame.pts is not None else target
            if chosen is not None and t > target + 1e-6:
                break
            chosen = frame
        if chosen is None:
            raise DecodeError(f"{path}: no frame at {timestamp} s")
        width, height = _scaled_size(chosen.width, chosen.height, short_side)
        return chosen.to_ndarray(format="rgb24", width=width, height=height)
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding failed ({why(exc)})") from None
    finally:
        container.close()
