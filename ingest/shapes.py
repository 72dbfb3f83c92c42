"""Synthetic video of coloured shapes with known scenes: the first-run demo's footage (and the tests').

Each scene shows one shape of one colour on a plain background for a few seconds, drifting and growing
slightly, so what is on screen when is known exactly. Rendered with PIL and encoded with PyAV (H.264).

Geometry conventions: ``size`` is the shape's diameter as a fraction of the image's shorter side;
``position`` is the shape's centre as ``(x, y)`` fractions of width and height; ``image_size`` is an int
(square) or a ``(width, height)`` tuple.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

#: Shape colours (the colours a query can ask for).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 30),
    "white": (250, 250, 250),
    "black": (12, 12, 12),
}

#: Background colours: every shape colour plus a few others.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    **COLORS,
    "gray": (128, 128, 128),
    "orange": (245, 140, 30),
    "purple": (130, 50, 160),
    "pink": (245, 160, 190),
    "brown": (120, 75, 40),
}

RGB = tuple[int, int, int]
ColorSpec = str | RGB
SizeSpec = int | tuple[int, int]
_SUPERSAMPLE = 4


def _rgb(color: ColorSpec, table: dict[str, RGB]) -> RGB:
    if isinstance(color, str):
        return table[color]
    return tuple(int(c) for c in color)  # type: ignore[return-value]


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a square, triangle or star of circumradius ``r``."""
    if shape == "square":
        n, radii = 4, [r]
        angle += math.pi / 4
    elif shape == "triangle":
        n, radii = 3, [r]
        angle -= math.pi / 2
    elif shape == "star":
        n, radii = 10, [r, r * 0.42]
        angle -= math.pi / 2
    else:
        raise ValueError(f"unknown shape {shape!r}")
    pts = []
    for i in range(n):
        rad = radii[i % len(radii)]
        a = angle + 2 * math.pi * i / n
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def render_scene(
    shape: str,
    color: ColorSpec,
    background: ColorSpec,
    size: float,
    position: tuple[float, float],
    image_size: SizeSpec = 64,
    rotation: float = 0.0,
) -> Image.Image:
    """Render one ``shape`` filled with ``color`` on a plain ``background``.

    Colours are names from :data:`COLORS` / :data:`BACKGROUNDS` or RGB tuples.
    ``rotation`` is in degrees (ignored for circles). Returns an RGB image.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    w, h = (image_size, image_size) if isinstance(image_size, int) else image_size
    s = _SUPERSAMPLE
    img = Image.new("RGB", (w * s, h * s), _rgb(background, BACKGROUNDS))
    draw = ImageDraw.Draw(img)
    fill = _rgb(color, COLORS)
    cx, cy = position[0] * w * s, position[1] * h * s
    r = size * min(w, h) * s / 2
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, math.radians(rotation)), fill=fill)
    return img.resize((w, h), Image.Resampling.BOX)


Scene = tuple[str, str, str, float]  # shape, colour, background, seconds


def write_shapes_video(path: Path, scenes: list[Scene], fps: int = 10, size: tuple[int, int] = (320, 240)) -> Path:
    """H.264 (yuv420p) video: each scene shows one shape, drifting and growing slightly, for its duration."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for shape, colour, background, seconds in scenes:
            count = round(seconds * fps)
            for i in range(count):
                drift = 0.04 * np.sin(i / max(count, 1) * np.pi)
                image = render_scene(shape, colour, background, 0.45 + drift, (0.5 + drift, 0.5), size)
                for packet in stream.encode(av.VideoFrame.from_image(image)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
