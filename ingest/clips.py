"""Cut a moment out of a video file: losslessly (PyAV stream copy) when the moment starts on a keyframe and
ends on one (or at the end, or anywhere in a stream without B-frames) and the output container takes the codec,
else by re-encoding (H.264, constant frame rate). Video only: the audio track is not carried over.

Every source the library plays can be cut: odd frame sizes are scaled to even ones (H.264 in 4:2:0 needs them),
a codec the container cannot hold (Cinepak into .mp4) is re-encoded, and a file with dropped frames (a sparse
AVI) keeps its timing: each output frame shows the source frame on screen at its time, so the clip lasts what
was asked, to the frame. The end defaults to the video's end and is clamped to it; the report gives the range
actually written. Errors name files by their name only (no server or temporary paths).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from framesearch.errors import InvalidInput
from framesearch.ingest.video import DecodeError, open_video, why
from framesearch.validation import Seconds

CRF = "18"
MAX_RATE = 240.0  # a stream's guessed rate beyond this is a timestamp artefact: use its average rate


class ClipRequest(BaseModel):
    """A time range of one video file to write to `output`; no `end`: to the end of the video."""

    model_config = ConfigDict(extra="forbid")

    source: Path
    start: Seconds = 0.0
    end: Seconds | None = None
    output: Path = Field(description="The clip's file; its extension picks the container (.mp4, .mkv, .mov, .avi).")

    @model_validator(mode="after")
    def _range(self) -> ClipRequest:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"a clip must end after it starts ({self.start:g} s to {self.end:g} s)")
        if self.output.resolve() == self.source.resolve():
            raise ValueError("the clip would overwrite its source video")
        return self


class ClipReport(BaseModel):
    path: str
    start: float
    end: float
    method: Literal["copy", "reencode"]
    frames: int


@dataclass(frozen=True)
class Plan:
    start_pts: int
    end_pts: int
    copy: bool
    duration: float  # seconds from the stream's origin to the end of its last frame


def frame_rate(stream: Any) -> Fraction:
    """The stream's nominal frame rate (a sparse file's average rate is lower than the rate its frames keep)."""
    for rate in (stream.guessed_rate, stream.average_rate):
        if rate and 0 < float(rate) <= MAX_RATE:
            return Fraction(rate)
    return Fraction(25)


def _plan(stream: Any, container: Any, start: float, end: float) -> Plan:
    """Where the range starts and ends in stream ticks, and whether packets can be copied as they are."""
    base = stream.time_base or Fraction(1, 1_000_000)
    origin = stream.start_time or 0
    frame = 1 / float(frame_rate(stream))
    keys, last, last_duration, reordered, previous = [], None, 0, False, None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        if packet.is_keyframe:
            keys.append(packet.pts)
        reordered |= previous is not None and packet.pts < previous
        previous = packet.pts
        if last is None or packet.pts >= last:
            last, last_duration = packet.pts, packet.duration or 0
    if last is None:
        raise DecodeError("the video has no frames")
    duration = float((last - origin) * base) + (float(last_duration * base) or frame)
    end = min(end, duration)
    start_pts, end_pts = origin + round(start / base), origin + round(end / base)
    tolerance = frame / 2 / float(base)
    on_key = [k for k in keys if abs(k - start_pts) <= tolerance]
    ends_clean = not reordered or end_pts > last or any(abs(k - end_pts) <= tolerance for k in keys)
    if on_key:
        start_pts = on_key[0]
        end_pts = next((k for k in keys if abs(k - end_pts) <= tolerance), end_pts)
    return Plan(start_pts, end_pts, bool(on_key) and ends_clean, duration)


def _copy(source: Path, output: Path, plan: Plan) -> int:
    import av

    with av.open(str(source)) as inp, av.open(str(output), "w") as out:
        stream = inp.streams.video[0]
        target = out.add_stream_from_template(stream)
        inp.seek(plan.start_pts, stream=stream, backward=True, any_frame=False)
        offset, count = None, 0
        for packet in inp.demux(stream):
            if packet.dts is None or packet.pts is None or packet.pts < plan.start_pts:
                continue
            if packet.pts >= plan.end_pts and (packet.is_keyframe or offset is None or not _has_b_frames(stream)):
                break
            if packet.pts >= plan.end_pts:
                continue
            offset = packet.dts if offset is None else offset
            packet.pts -= offset
            packet.dts -= offset
            packet.stream = target
            out.mux(packet)
            count += 1
    return count


def _has_b_frames(stream: Any) -> bool:
    return bool(getattr(stream.codec_context, "has_b_frames", 1))


def even_size(width: int, height: int) -> tuple[int, int]:
    """The frame size H.264 4:2:0 can hold: each side rounded down to even (at least 2)."""
    return max(2, width - width % 2), max(2, height - height % 2)


def _reencode(source: Path, output: Path, start: float, end: float) -> int:
    """Constant frame rate H.264 of [start, end): output frame n shows the source frame on screen at
    start + n / rate (the latest one shown by then), so dropped frames are held and the clip keeps its length."""
    import av

    with av.open(str(source)) as inp, av.open(str(output), "w") as out:
        stream = inp.streams.video[0]
        base = stream.time_base or Fraction(1, 1_000_000)
        origin = stream.start_time or 0
        rate = frame_rate(stream)
        slots = max(1, round((end - start) * rate))
        target = out.add_stream("libx264", rate=rate)
        width, height = even_size(stream.codec_context.width, stream.codec_context.height)
        target.width, target.height = width, height
        target.pix_fmt = "yuv420p"
        target.options = {"crf": CRF, "preset": "veryfast"}
        inp.seek(origin + int(start / base), stream=stream, backward=True, any_frame=False)
        tolerance = 0.5 / float(rate)
        count, held = 0, None

        def emit(frame: Any) -> None:
            nonlocal count
            image = frame.reformat(width=width, height=height, format="yuv420p")
            image.pts, image.time_base = count, Fraction(1) / rate
            for packet in target.encode(image):
                out.mux(packet)
            count += 1

        for frame in inp.decode(stream):
            t = float((frame.pts - origin) * base) if frame.pts is not None else start
            while held is not None and count < slots and start + count / rate < t - tolerance:
                emit(held)
            if count >= slots:
                break
            held = frame
        while held is not None and count < slots:  # the source ended (or dropped its last frames): hold the last one
            emit(held)
        for packet in target.encode():
            out.mux(packet)
    return count


def _partial(output: Path) -> Path:
    return output.with_name(f".{output.stem}.partial{output.suffix}")


def _plain(exc: BaseException, *paths: Path) -> str:
    """An error's text with every file path replaced by the file's name."""
    text = why(exc)  # FFmpeg's reason without its errno number
    for path in paths:
        text = text.replace(str(path), path.name)
    return text[:300]


def cut_clip(request: ClipRequest) -> ClipReport:
    """Write the moment to `request.output`; stream copy where keyframes and the container allow, else re-encode."""
    import av.error

    source, output = request.source, request.output
    try:
        container = open_video(source)
    except DecodeError as exc:
        raise DecodeError(_plain(exc, source)) from None
    try:
        stream = container.streams.video[0]
        plan = _plan(stream, container, request.start, math.inf if request.end is None else request.end)
        base = stream.time_base or Fraction(1, 1_000_000)
        origin = stream.start_time or 0
        rate = frame_rate(stream)
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{source.name}: cannot read the video ({_plain(exc, source)})") from None
    finally:
        container.close()
    if request.start >= plan.duration - 1e-6:
        raise InvalidInput(f"{source.name} is {plan.duration:.2f} s long: a clip cannot start at {request.start:g} s")
    end = min(request.end if request.end is not None else math.inf, plan.duration)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(output)
    method: Literal["copy", "reencode"] = "copy" if plan.copy else "reencode"
    try:
        frames = 0
        if plan.copy:
            try:
                frames = _copy(source, partial, plan)
                start, end = float((plan.start_pts - origin) * base), min(float((plan.end_pts - origin) * base), end)
            except (av.error.FFmpegError, ValueError):  # the container cannot hold this codec as it is
                partial.unlink(missing_ok=True)
                method = "reencode"
        if method == "reencode":
            frames = _reencode(source, partial, request.start, end)
            start = request.start
            end = min(start + frames / float(rate), plan.duration)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write the clip {output.name}: {_plain(exc, source, output, partial)}") from None
    if frames == 0:
        partial.unlink(missing_ok=True)
        raise InvalidInput(f"{source.name} has no frames between {request.start:g} s and {end:g} s")
    os.replace(partial, output)
    return ClipReport(path=str(output), start=round(start, 4), end=round(end, 4), method=method, frames=frames)
