"""Split a long video into time ranges that decode independently and yield exactly the frames of one pass.

One pass (`video.sample_frames`) numbers every decoded frame and keeps the first frame of each sampling slot.
A range starts at a keyframe, where a decoder can start, and carries the state one pass would have there: how
many frames come before it and the next sampling slot. Both are read off the demuxer's packets (no decoding):
with every packet timestamped and no timestamp repeated, frames come out in timestamp order, one per packet.
Files that break those rules, or whose range decode disagrees with the plan, fall back to one pass.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from framesearch.ingest.video import (
    TIME_EPSILON,
    DecodeError,
    SampledFrame,
    _scaled_size,
    open_video,
    sample_frames,
    why,
)


@dataclass(frozen=True)
class FrameRange:
    """Frames [first_index, end_index) of a video: from the keyframe at `start_pts` to the one at `end_pts`.

    None ends mean the start or the end of the video; `end_index` is the frame count the plan expects there, and
    `next_slot` the sampling state one pass has at the start.
    """

    start_pts: int | None = None
    end_pts: int | None = None
    first_index: int = 0
    end_index: int | None = None
    next_slot: int = 0
    start_time: float = 0.0
    end_time: float | None = None

    @property
    def whole(self) -> bool:
        return self.start_pts is None and self.end_pts is None


WHOLE = FrameRange()


class SplitMismatch(DecodeError):
    """A range decode disagreed with its plan (the caller decodes that part in one pass instead)."""


def _times(path: Path) -> tuple[list[int], list[int], Fraction, int] | None:
    """Sorted packet timestamps, sorted keyframe timestamps, time base and start; None when not splittable."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        base = stream.time_base or Fraction(1, 1_000_000)
        start = stream.start_time or 0
        stamps: list[int] = []
        keys: list[int] = []
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's final flush packet
                continue
            if packet.pts is None:
                return None
            stamps.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    except Exception:  # a demux error: leave the file to one pass, which reports it properly
        return None
    finally:
        container.close()
    stamps.sort()
    if len(set(stamps)) != len(stamps):
        return None
    return stamps, sorted(keys), base, start


def plan_ranges(path: Path, fps: float, seconds: float) -> list[FrameRange]:
    """Ranges of about `seconds` each, cut at keyframes; [WHOLE] when the file is short or cannot be split safely."""
    found = _times(Path(path))
    if found is None:
        return [WHOLE]
    stamps, keys, base, start = found
    times = [float((p - start) * base) for p in stamps]
    cuts: list[int] = []  # indices into `stamps` where a range starts
    last = times[0] if times else 0.0
    for key in keys:
        index = bisect.bisect_left(stamps, key)
        if index > 0 and times[index] >= last + seconds:
            cuts.append(index)
            last = times[index]
    if not cuts:
        return [WHOLE]
    slots = _slot_states(times, fps)
    bounds = [0, *cuts, len(stamps)]
    ranges = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        ranges.append(
            FrameRange(
                start_pts=stamps[lo] if lo else None,
                end_pts=stamps[hi] if hi < len(stamps) else None,
                first_index=lo,
                end_index=hi,
                next_slot=slots[lo],
                start_time=max(times[lo], 0.0),
                end_time=times[hi] if hi < len(stamps) else None,
            )
        )
    return ranges


def _slot_states(times: list[float], fps: float) -> list[int]:
    """The sampling slot one pass expects before each frame (the same arithmetic as `sample_frames`)."""
    states = []
    next_slot = 0
    for timestamp in times:
        states.append(next_slot)
        if timestamp + TIME_EPSILON < next_slot / fps:
            continue
        next_slot = math.floor((timestamp + TIME_EPSILON) * fps) + 1
    return states


def sample_range(
    path: Path, fps: float, short_side: int | None, rng: FrameRange, one_pass: bool = False
) -> tuple[list[SampledFrame], bool]:
    """The frames one pass of `sample_frames` keeps within `rng`, and whether the range decoded as planned.

    On a mismatch (or with `one_pass`) the frames come from one pass over the file up to the range's end: always
    right, but then the plan's frame numbers may be off for the ranges after this one, which must be redone so.
    """
    if rng.whole:
        return list(sample_frames(path, fps, short_side)), True
    if not one_pass:
        try:
            return list(_decode_range(path, fps, short_side, rng)), True
        except SplitMismatch:
            pass
    end = math.inf if rng.end_pts is None or rng.end_index is None else rng.end_index
    frames = []
    for frame in sample_frames(path, fps, short_side):
        if frame.index >= end:
            break
        if frame.index >= rng.first_index:
            frames.append(frame)
    return frames, False


def _decode_range(path: Path, fps: float, short_side: int | None, rng: FrameRange) -> Iterator[SampledFrame]:
    import av.error

    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1_000_000)
        start = stream.start_time or 0
        if rng.start_pts is not None:
            container.seek(rng.start_pts, stream=stream, backward=True, any_frame=False)
        index, next_slot, last_pts = rng.first_index, rng.next_slot, None
        for frame in container.decode(stream):
            pts = frame.pts
            if pts is None or (last_pts is not None and pts <= last_pts):
                raise SplitMismatch(f"{path}: frame timestamps out of order after a seek")
            if rng.start_pts is not None and pts < rng.start_pts:
                continue
            if last_pts is None and rng.start_pts is not None and pts != rng.start_pts:
                raise SplitMismatch(f"{path}: seeking did not land on the keyframe at {rng.start_pts}")
            last_pts = pts
            if rng.end_pts is not None and pts >= rng.end_pts:
                break
            timestamp = float((pts - start) * base)
            if timestamp + TIME_EPSILON >= next_slot / fps:
                next_slot = math.floor((timestamp + TIME_EPSILON) * fps) + 1
                width, height = _scaled_size(frame.width, frame.height, short_side)
                image = frame.to_ndarray(format="rgb24", width=width, height=height)
                yield SampledFrame(index, round(max(timestamp, 0.0), 4), image)
            index += 1
        if rng.end_index is not None and index != rng.end_index:
            planned = rng.end_index - rng.first_index
            raise SplitMismatch(f"{path}: {index - rng.first_index} frames decoded, the plan expects {planned}")
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding failed ({why(exc)})") from None
    finally:
        container.close()
