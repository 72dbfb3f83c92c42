"""Cut a moment out of a video file: losslessly (PyAV stream copy) when the moment starts on a keyframe and
ends on one (or at the end, or anywhere in a stream without B-frames), else by re-encoding (H.264).
Video only: the audio track is not carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from framesearch.errors import InvalidInput
from framesearch.ingest.video import DecodeError, open_video
from framesearch.validation import Seconds

CRF = "18"


class ClipRequest(BaseModel):
    """A time range of one video file to write to `output`."""

    model_config = ConfigDict(extra="forbid")

    source: Path
    start: Seconds
    end: Seconds
    output: Path = Field(description="The clip's file; its extension picks the container (.mp4, .mkv, .mov).")

    @model_validator(mode="after")
    def _range(self) -> ClipRequest:
        if self.end <= self.start:
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


def _plan(stream: Any, container: Any, start: float, end: float) -> Plan:
    """Where the range starts and ends in stream ticks, and whether packets can be copied as they are."""
    base = stream.time_base or Fraction(1, 1_000_000)
    origin = stream.start_time or 0
    frame = 1 / float(stream.average_rate or stream.guessed_rate or 25)
    start_pts, end_pts = origin + round(start / base), origin + round(end / base)
    keys, last, reordered, previous = [], None, False, None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        if packet.is_keyframe:
            keys.append(packet.pts)
        reordered |= previous is not None and packet.pts < previous
        previous = packet.pts
        last = packet.pts if last is None else max(last, packet.pts)
    if last is None:
        raise DecodeError("the video has no frames")
    tolerance = frame / 2 / float(base)
    on_key = [k for k in keys if abs(k - start_pts) <= tolerance]
    ends_clean = not reordered or end_pts > last or any(abs(k - end_pts) <= tolerance for k in keys)
    if on_key:
        start_pts = on_key[0]
        end_pts = next((k for k in keys if abs(k - end_pts) <= tolerance), end_pts)
    return Plan(start_pts, end_pts, bool(on_key) and ends_clean)


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


def _reencode(source: Path, output: Path, start: float, end: float) -> int:
    import av

    with av.open(str(source)) as inp, av.open(str(output), "w") as out:
        stream = inp.streams.video[0]
        base = stream.time_base or Fraction(1, 1_000_000)
        origin = stream.start_time or 0
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        target = out.add_stream("libx264", rate=rate)
        target.width, target.height = stream.codec_context.width, stream.codec_context.height
        target.pix_fmt = "yuv420p"
        target.options = {"crf": CRF, "preset": "veryfast"}
        inp.seek(origin + int(start / base), stream=stream, backward=True, any_frame=False)
        count = 0
        for frame in inp.decode(stream):
            t = float((frame.pts - origin) * base) if frame.pts is not None else start
            if t < start - 1e-6:
                continue
            if t >= end - 1e-6:
                break
            image = frame.reformat(format="yuv420p")
            image.pts, image.time_base = count, Fraction(1) / Fraction(rate)
            for packet in target.encode(image):
                out.mux(packet)
            count += 1
        for packet in target.encode():
            out.mux(packet)
    return count


def cut_clip(request: ClipRequest) -> ClipReport:
    """Write the moment to `request.output`; stream copy where keyframes allow, else re-encode."""
    import av.error

    container = open_video(request.source)
    try:
        stream = container.streams.video[0]
        plan = _plan(stream, container, request.start, request.end)
        base = stream.time_base or Fraction(1, 1_000_000)
        origin = stream.start_time or 0
    finally:
        container.close()
    request.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        if plan.copy:
            frames = _copy(request.source, request.output, plan)
            start, end = float((plan.start_pts - origin) * base), float((plan.end_pts - origin) * base)
            method: Literal["copy", "reencode"] = "copy"
        else:
            frames = _reencode(request.source, request.output, request.start, request.end)
            start, end, method = request.start, request.end, "reencode"
    except (av.error.FFmpegError, ValueError) as exc:
        request.output.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {request.output}: {exc}") from None
    if frames == 0:
        request.output.unlink(missing_ok=True)
        raise InvalidInput(f"{request.source} has no frames between {request.start:g} s and {request.end:g} s")
    return ClipReport(path=str(request.output), start=round(start, 4), end=round(end, 4), method=method, frames=frames)
