"""Video files `clip` must cut, rendered with PyAV: an odd-sized MPEG-2, a Cinepak AVI, and an AVI with dropped
frames (a sparse file: its frames keep the nominal rate's timestamps, with holes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framesearch.ingest.shapes import render_scene

SHAPES = [("circle", "red"), ("square", "blue"), ("triangle", "green"), ("star", "yellow")]


def _image(i: int, fps: int, size: tuple[int, int]):
    shape, colour = SHAPES[int(i / fps) % len(SHAPES)]  # a new scene every second
    drift = 0.05 * np.sin(i / 7)
    return render_scene(shape, colour, "white", 0.4 + drift, (0.5 + drift, 0.5), size)


def write_video(
    path: Path,
    codec: str,
    seconds: float,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    pix_fmt: str = "yuv420p",
    keep=lambda i: True,
    container_format: str | None = None,
) -> Path:
    """`seconds` of shapes at `fps`, encoded with `codec`; frame i is written (with pts i) only where keep(i)."""
    import av

    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        if codec != "cinepak":
            stream.bit_rate = 800_000
        for i in range(round(seconds * fps)):
            if not keep(i):
                continue
            frame = av.VideoFrame.from_image(_image(i, fps, size)).reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def mpeg2_odd(folder: Path) -> Path:
    return write_video(Path(folder) / "odd.mpg", "mpeg2video", 3, size=(720, 405), container_format="mpeg")


def cinepak(folder: Path, seconds: float = 8) -> Path:
    return write_video(Path(folder) / "cinepak.avi", "cinepak", seconds, fps=5, size=(64, 48), pix_fmt="rgb24")


def sparse_avi(folder: Path) -> Path:
    """8 s at a nominal 30 fps, with only every third frame kept from 1 s to 6 s (as a capture that dropped them)."""
    return write_video(Path(folder) / "sparse.avi", "mpeg4", 8, fps=30, keep=lambda i: not 30 <= i < 180 or i % 3 == 0)


def frame_times(path: Path) -> list[float]:
    """The decoded frames' times (s) of a file's video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        return [float((f.pts - origin) * stream.time_base) for f in container.decode(stream)]
