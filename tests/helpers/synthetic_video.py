"""Render synthetic videos with PyAV, so tests need no shared media: coloured shapes with known segments (the
renderer is the demo's, in the package), or plain colours in any codec and container (fast at any size)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from framesearch.ingest.shapes import BACKGROUNDS, write_shapes_video
from framesearch.ingest.shapes import Scene as Segment  # (shape, colour, background, seconds)

__all__ = ["Segment", "write_colour_video", "write_shapes_video", "write_transition_video"]

Run = tuple[str | tuple[int, int, int], float]  # a colour (a name of ingest/shapes.py's BACKGROUNDS, or RGB), seconds


def write_colour_video(
    path: Path,
    runs: list[Run],
    fps: int | Fraction = 10,
    size: tuple[int, int] = (320, 180),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
    seekable: bool = True,
) -> Path:
    """A video of plain colours, one per run (a hard cut between runs), `fps` frames a second, encoded with `codec`
    in the container of `path`'s suffix (or `container_format`). The tiny colour CLIP sees each run as its colour.
    `seekable=False` writes as into a pipe: the muxer cannot go back, so e.g. a WebM header names no duration."""
    if seekable:
        _encode(str(path), runs, fps, size, codec, pix_fmt, container_format)
    else:
        with open(path, "wb") as raw:
            _encode(_Pipe(raw), runs, fps, size, codec, pix_fmt, container_format or path.suffix[1:])
    return path


class _Pipe(io.RawIOBase):
    """A file that can only be written forward."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def writable(self) -> bool:
        return True

    def write(self, b, /) -> int:
        return self.file.write(b)


def _encode(
    target: str | io.RawIOBase,
    runs: list[Run],
    fps: int | Fraction,
    size: tuple[int, int],
    codec: str,
    pix_fmt: str,
    container_format: str | None,
) -> None:
    import av
    from av.video.stream import VideoStream

    with av.open(target, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, VideoStream), codec
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        if codec != "libx264":
            stream.bit_rate = 400_000
        if codec.startswith("libvpx"):
            # realtime, no look-ahead, one thread: libvpx's defaults take ~0.1 s a frame on a loaded 2-core machine
            stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0", "threads": "1"}
        for colour, seconds in runs:
            rgb = BACKGROUNDS[colour] if isinstance(colour, str) else colour
            frame = np.broadcast_to(np.asarray(rgb, dtype=np.uint8), (size[1], size[0], 3)).copy()
            for _ in range(round(seconds * fps)):
                image = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=pix_fmt)
                for packet in stream.encode(image):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_transition_video(
    path, scenes, transitions, fps: int = 25, size: tuple[int, int] = (160, 120)
) -> tuple[object, list[float]]:
    """H.264 video of `scenes` (shape, colour, background, seconds) joined by `transitions`, one (kind, seconds)
    between each two scenes: "cut", "dissolve" (a cross-fade of that length centred on the scenes' boundary) or
    "fade" (to black and back, the black at the boundary). Returns the path and the boundaries' times."""
    import av

    from framesearch.ingest.shapes import render_scene

    starts = np.cumsum([0.0] + [s[3] for s in scenes])
    boundaries = [float(b) for b in starts[1:-1]]

    def scene_image(k: int, t: float) -> np.ndarray:
        shape, colour, background, seconds = scenes[k]
        drift = 0.04 * np.sin((t - starts[k]) / seconds * np.pi)
        return np.asarray(render_scene(shape, colour, background, 0.45 + drift, (0.5 + drift, 0.5), size), dtype=np.float32)

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i in range(round(starts[-1] * fps)):
            t = i / fps
            k = min(int(np.searchsorted(starts, t, side="right")) - 1, len(scenes) - 1)
            image = scene_image(k, t)
            for j, boundary in enumerate(boundaries):
                kind, seconds = transitions[j]
                if kind == "cut" or abs(t - boundary) >= seconds / 2:
                    continue
                mix = (t - (boundary - seconds / 2)) / seconds  # 0 -> 1 across the transition
                a, b = scene_image(j, min(t, starts[j + 1] - 1e-3)), scene_image(j + 1, max(t, starts[j + 1]))
                if kind == "dissolve":
                    image = (1 - mix) * a + mix * b
                else:
                    image = a * max(0.0, 1 - 2 * mix) if mix < 0.5 else b * min(1.0, 2 * mix - 1)
            frame = av.VideoFrame.from_ndarray(np.clip(np.round(image), 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path, boundaries
