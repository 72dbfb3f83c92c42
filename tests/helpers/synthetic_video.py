"""Render synthetic videos with PyAV, so tests need no shared media: coloured shapes with known segments (the
renderer is the demo's, in the package), or plain colours in any codec and container (fast at any size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framesearch.ingest.shapes import BACKGROUNDS, write_shapes_video
from framesearch.ingest.shapes import Scene as Segment  # (shape, colour, background, seconds)

__all__ = ["Segment", "write_colour_video", "write_shapes_video"]

Run = tuple[str | tuple[int, int, int], float]  # a colour (a name of ingest/shapes.py's BACKGROUNDS, or RGB), seconds


def write_colour_video(
    path: Path,
    runs: list[Run],
    fps: int = 10,
    size: tuple[int, int] = (320, 180),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
) -> Path:
    """A video of plain colours, one per run (a hard cut between runs), `fps` frames a second, encoded with `codec`
    in the container of `path`'s suffix (or `container_format`). The tiny colour CLIP sees each run as its colour."""
    import av

    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
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
    return path
