"""Render a synthetic video of coloured shapes with known segments (for end-to-end ranking tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.shapes import render_scene

Segment = tuple[str, str, str, float]  # shape, colour, background, seconds


def write_shapes_video(
    path: Path, segments: list[Segment], fps: int = 10, size: tuple[int, int] = (320, 240), keyframe_every: int | None = None
) -> Path:
    """H.264 (yuv420p) video: each segment shows one shape, drifting and growing slightly, for its duration.

    `keyframe_every` frames a keyframe at most (x264's default is 250: one in a short clip)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", **({"g": str(keyframe_every)} if keyframe_every else {})}
        for shape, colour, background, seconds in segments:
            count = round(seconds * fps)
            for i in range(count):
                drift = 0.04 * np.sin(i / max(count, 1) * np.pi)
                image = render_scene(shape, colour, background, 0.45 + drift, (0.5 + drift, 0.5), size)
                for packet in stream.encode(av.VideoFrame.from_image(image)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
