"""Synthetic scenes of one coloured shape on a plain background.

Random scenes and captions to train and test the ``framesearch/tiny-shapes-clip`` model; the renderer
itself is ``framesearch.ingest.shapes`` (the first-run demo renders its video with it).

Example::

    from training.shapes import render_scene, sample_scene
    img = render_scene("circle", "red", "blue", size=0.5, position=(0.5, 0.5))
    scene = sample_scene(seed=7)           # deterministic for a given seed
    scene.image, scene.caption, scene.attributes

Geometry conventions:

* ``size`` is the shape's diameter as a fraction of the image's *shorter* side.
* ``position`` is the shape's centre as ``(x, y)`` fractions of width and height.
* ``image_size`` is an int (square) or a ``(width, height)`` tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# The renderer lives in the package (the first-run demo renders its video with it); training re-exports it.
from framesearch.ingest.shapes import BACKGROUNDS, COLORS, RGB, SHAPES, ColorSpec, SizeSpec, render_scene  # noqa: F401

#: Caption templates; ``{background}`` templates name the background colour
#: (``{article}`` is "a" or "an" to match it).
TEMPLATES: tuple[str, ...] = (
    "a {color} {shape}",
    "a photo of a {color} {shape}",
    "{color} {shape}",
    "a picture of a {color} {shape}",
    "an image of a {color} {shape}",
    "a {color} {shape} on {article} {background} background",
    "{color} {shape} on {background}",
)


@dataclass(frozen=True)
class Scene:
    """A rendered scene with its caption and the attributes that produced it."""

    image: Image.Image
    caption: str
    attributes: dict = field(default_factory=dict)


def make_caption(shape: str, color: str, background: str, template: str) -> str:
    """Fill a caption ``template`` (see :data:`TEMPLATES`)."""
    article = "an" if background[:1] in "aeiou" else "a"
    return template.format(shape=shape, color=color, background=background, article=article)


def _jitter(rgb: RGB, rng: np.random.Generator, amount: int) -> RGB:
    out = np.asarray(rgb) + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(out, 0, 255))  # type: ignore[return-value]


def sample_attributes(rng: np.random.Generator, image_size: SizeSpec = 64) -> dict:
    """Draw random scene attributes.

    The shape always lies inside the centred square of the frame, so it
    survives a centre crop. Keys: shape, color, background, size, position,
    rotation, color_rgb, background_rgb.
    """
    w, h = (image_size, image_size) if isinstance(image_size, int) else image_size
    shape = SHAPES[rng.integers(len(SHAPES))]
    color = list(COLORS)[rng.integers(len(COLORS))]
    backgrounds = [b for b in BACKGROUNDS if b != color]
    background = backgrounds[rng.integers(len(backgrounds))]
    size = float(rng.uniform(0.3, 0.7))
    side = min(w, h)
    # Centre of the shape within the centred square, with the shape fully inside.
    slack = (1.0 - size) / 2 * side * 0.9
    x = (w / 2 + rng.uniform(-slack, slack)) / w
    y = (h / 2 + rng.uniform(-slack, slack)) / h
    return {
        "shape": shape,
        "color": color,
        "background": background,
        "size": size,
        "position": (float(x), float(y)),
        "rotation": float(rng.uniform(-25, 25)),
        "color_rgb": _jitter(COLORS[color], rng, 18),
        "background_rgb": _jitter(BACKGROUNDS[background], rng, 18),
    }


def render_attributes(attributes: dict, image_size: SizeSpec = 64) -> Image.Image:
    """Render a scene from a dict made by :func:`sample_attributes`."""
    a = attributes
    return render_scene(
        a["shape"],
        a.get("color_rgb", a["color"]),
        a.get("background_rgb", a["background"]),
        a["size"],
        a["position"],
        image_size=image_size,
        rotation=a.get("rotation", 0.0),
    )


def sample_scene(seed: int | np.random.Generator, image_size: SizeSpec = 64) -> Scene:
    """Render a random scene with a random caption; deterministic for an int seed."""
    rng = np.random.default_rng(seed) if isinstance(seed, (int, np.integer)) else seed
    attrs = sample_attributes(rng, image_size)
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    caption = make_caption(attrs["shape"], attrs["color"], attrs["background"], template)
    return Scene(render_attributes(attrs, image_size), caption, attrs)


def sample_scenes(seed: int, n: int, image_size: SizeSpec = 64) -> list[Scene]:
    """``n`` random scenes from one seeded generator (deterministic)."""
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, image_size) for _ in range(n)]
