"""Videos of coloured-shape scenes with known cuts and contents, for tests and the moments benchmark.

A script is a list of scenes (hard cuts between them, at any video frame, so off any sampling grid; each scene has
another background than the one before, as shots of different places would). A scene
shows a plain background and no shape, or one shape (possibly moving and growing), sometimes sharing the frame
with a small second shape in a corner. `truth(script)` gives,
for each "a {colour} {shape}" query, the time ranges where that shape is on screen.

    script = random_script(seed=7)
    render_video(Path("v.mp4"), script)
    truth(script)  # {"a red circle": [(0.0, 3.24)], ...}

The tiny shapes CLIP centre-crops frames and never saw two shapes in one frame: shapes stay inside the centred
square, the second shape of a frame is a small distractor whose label (and its mixes with the main shape's:
a red square beside a blue circle makes "a red circle" ambiguous) is asked nowhere in the video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from framesearch.ingest.shapes import _SUPERSAMPLE, BACKGROUNDS, COLORS, SHAPES, _polygon

VIDEO_FPS = 25
CALM_BACKGROUNDS = ("gray", "black", "brown", "purple")  # two shapes need a background neither blends into
SIZE = (320, 240)


@dataclass(frozen=True)
class Shape:
    """One shape: where it starts and ends (centre, fractions of width and height) and its size at both ends."""

    shape: str
    colour: str
    start: tuple[float, float]
    end: tuple[float, float]
    size: tuple[float, float]
    rotation: float = 0.0
    distractor: bool = False  # a small second shape, never asked for (its label is asked nowhere in the video)

    @property
    def label(self) -> str:
        return f"a {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    start: float
    end: float
    background: str
    shapes: tuple[Shape, ...] = ()


def draw(scene: Scene, progress: float, size: tuple[int, int] = SIZE) -> Image.Image:
    """The scene's frame at `progress` (0..1 through the scene)."""
    w, h = size
    s = _SUPERSAMPLE
    img = Image.new("RGB", (w * s, h * s), BACKGROUNDS[scene.background])
    pen = ImageDraw.Draw(img)
    for shape in scene.shapes:
        x = (shape.start[0] + (shape.end[0] - shape.start[0]) * progress) * w * s
        y = (shape.start[1] + (shape.end[1] - shape.start[1]) * progress) * h * s
        r = (shape.size[0] + (shape.size[1] - shape.size[0]) * progress) * min(w, h) * s / 2
        fill = COLORS[shape.colour]
        if shape.shape == "circle":
            pen.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            pen.polygon(_polygon(shape.shape, x, y, r, math.radians(shape.rotation)), fill=fill)
    return img.resize((w, h), Image.Resampling.BOX)


def render_video(path: Path, script: list[Scene], fps: int = VIDEO_FPS, size: tuple[int, int] = SIZE) -> Path:
    """H.264 video of the script; frame n shows the scene holding time n / fps."""
    import av

    duration = script[-1].end
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for n in range(round(duration * fps)):
            t = n / fps
            scene = next(sc for sc in script if sc.start - 1e-9 <= t < sc.end - 1e-9)
            image = draw(scene, (t - scene.start) / max(scene.end - scene.start, 1e-9), size)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


Placement = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


def _place(rng: np.random.Generator, count: int, aspect: float) -> list[Placement]:
    """Start, end and sizes of `count` shapes inside the centred square: the first large, a second one small in a corner."""
    half = 0.5 / aspect  # half the centred square's width, as a fraction of the frame's width
    placed = []
    for i in range(count):
        size = float(rng.uniform(0.35, 0.55)) if i == 0 else float(rng.uniform(0.18, 0.24))
        grow = float(np.clip(size * rng.uniform(0.85, 1.2), 0.15, 0.6))
        r = max(size, grow) / 2
        lo_x, hi_x = 0.5 - half + r / aspect, 0.5 + half - r / aspect
        lo_y, hi_y = r, 1 - r
        if i == 0:
            start = (float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y)))
            moving = rng.random() < 0.5
            end = (float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))) if moving else start
        else:  # the corner farthest from the first shape
            first = placed[0][0]
            corner = (lo_x if first[0] > 0.5 else hi_x, lo_y if first[1] > 0.5 else hi_y)
            start = end = corner
        placed.append((start, end, (size, grow)))
    return placed


def random_script(seed: int, scenes: int = 10, fps: int = VIDEO_FPS, size: tuple[int, int] = SIZE) -> list[Scene]:
    """A random script: scenes of 2-4.5 s cut at random frames; one or two shapes (or, rarely, none) each."""
    rng = np.random.default_rng(seed)
    aspect = size[0] / size[1]
    asked: set[tuple[str, str]] = set()
    forbidden: set[tuple[str, str]] = set()
    script: list[Scene] = []
    t = 0.0
    previous: set[tuple[str, str]] = set()
    last_background = ""
    while len(script) < scenes:
        count = int(rng.choice([0, 1, 1, 1, 2, 2]))
        pairs = _pick_pairs(rng, count)
        cross = {(pairs[0][0], pairs[1][1]), (pairs[1][0], pairs[0][1]), pairs[1]} if count == 2 else set()
        if any(p in forbidden or p in previous for p in pairs[:1]) or cross & (asked | set(pairs[:1])):
            continue
        length = round(float(rng.uniform(2.0, 4.5)) * fps) / fps
        colours = {c for c, _ in pairs}
        backgrounds = CALM_BACKGROUNDS if count == 2 else tuple(BACKGROUNDS)
        background = str(rng.choice([b for b in backgrounds if b not in colours and b != last_background]))
        shapes = tuple(
            Shape(s, c, start, end, sz, float(rng.uniform(-20, 20)), distractor=i > 0)
            for i, ((c, s), (start, end, sz)) in enumerate(zip(pairs, _place(rng, count, aspect), strict=True))
        )
        script.append(Scene(round(t, 6), round(t + length, 6), background, shapes))
        asked |= set(pairs[:1])
        forbidden |= cross
        previous = set(pairs[:1])
        last_background = background
        t += length
    return script


def _pick_pairs(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    colours = list(rng.choice(list(COLORS), size=count, replace=False)) if count else []
    shapes = list(rng.choice(list(SHAPES), size=count, replace=False)) if count else []
    return [(str(c), str(s)) for c, s in zip(colours, shapes, strict=True)]


def truth(script: list[Scene]) -> dict[str, list[tuple[float, float]]]:
    """Each shown shape's query and the time ranges (scene edges) where it is on screen, adjacent scenes merged."""
    found: dict[str, list[tuple[float, float]]] = {}
    for scene in script:
        for shape in (s for s in scene.shapes if not s.distractor):
            ranges = found.setdefault(shape.label, [])
            if ranges and abs(ranges[-1][1] - scene.start) < 1e-9:
                ranges[-1] = (ranges[-1][0], scene.end)
            else:
                ranges.append((scene.start, scene.end))
    return found


def cuts(script: list[Scene]) -> list[float]:
    """The times of the hard cuts (scene starts after the first)."""
    return [scene.start for scene in script[1:]]
