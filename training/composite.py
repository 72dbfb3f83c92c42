"""Compositional training frames for the tiny shapes CLIP: one shape, two shapes, plain frames, textures and
cluttered photo-like scenes (irregular blobs, bars and outlines: "a scene", "objects").

Each frame comes with a label row (see `LABEL`): up to two (shape, colour) pairs, the background colour and the
frame's kind. Captions name one shape, both ("a red square beside a blue circle"), the plain background of an
empty frame ("a plain blue background") or the texture of a frame with no shape ("noise"); `positives` says which
captions truly describe which frames (every shape on screen is a true "a {colour} {shape}").

    rng = np.random.default_rng(7)
    image, label = sample_frame(rng, (320, 240))
    caption, caption_label = sample_caption(label, rng)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from framesearch.ingest.shapes import _SUPERSAMPLE, BACKGROUNDS, COLORS, SHAPES, _polygon
from training.shapes import TEMPLATES, make_caption, render_attributes, sample_attributes

#: Label columns: shape/colour of the first and second pair (-1: none), background (-1: none named), kind.
LABEL = ("shape1", "colour1", "shape2", "colour2", "background", "kind")
ONE, PLAIN, TEXTURE, NATURAL = 0, 1, 2, 3  # kinds; two-shape frames are kind ONE with a second pair
#: Shares of the frame kinds: one shape, two shapes, a plain background, a texture, a cluttered scene.
MIX = (0.42, 0.33, 0.08, 0.07, 0.10)
PAIR_WORDS = ("beside", "and", "next to")
PLAIN_TEMPLATES = ("a plain {bg} background", "an empty {bg} frame", "a blank {bg} screen", "plain {bg}")
TEXTURE_CAPTIONS = ("noise", "a texture", "a pattern", "a gradient", "a noisy texture", "a pattern of stripes")
#: Cluttered, photo-like frames (irregular blobs, bars and outlines on smooth colour fields): what an ordinary
#: video looks like to a model that knows only shapes. Without them a dark beak scored as "a black triangle".
NATURAL_CAPTIONS = ("a scene", "a busy scene", "objects", "a cluttered scene", "a real scene", "some objects")
EXTRA_WORDS = ("beside", "and", "next", "to", "plain", "empty", "blank", "screen", "frame") + tuple(
    w for t in TEXTURE_CAPTIONS + NATURAL_CAPTIONS for w in t.split()
)
_COLOURS, _BACKS = list(COLORS), list(BACKGROUNDS)


def _two_shapes(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Image.Image, list[int]]:
    """Two shapes of different colours in opposite quarters of the centred square, on a background neither uses."""
    w, h = size
    colours = rng.choice(len(_COLOURS), size=2, replace=False)
    shapes = rng.integers(len(SHAPES), size=2)
    used = {_COLOURS[c] for c in colours}
    backs = [b for b in _BACKS if b not in used]
    back = backs[rng.integers(len(backs))]
    s = _SUPERSAMPLE
    img = Image.new("RGB", (w * s, h * s), BACKGROUNDS[back])
    pen = ImageDraw.Draw(img)
    side = min(w, h)
    quarter = int(rng.integers(4))
    for i in range(2):
        q = quarter if i == 0 else 3 - quarter  # opposite quarters
        d = float(rng.uniform(0.26, 0.44)) * side
        cx = w / 2 + (1 if q % 2 else -1) * side * rng.uniform(0.18, 0.5 - d / side / 2 - 0.02)
        cy = h / 2 + (1 if q // 2 else -1) * side * rng.uniform(0.18, 0.5 - d / side / 2 - 0.02)
        shape, fill = SHAPES[shapes[i]], COLORS[_COLOURS[colours[i]]]
        r = d * s / 2
        if shape == "circle":
            pen.ellipse((cx * s - r, cy * s - r, cx * s + r, cy * s + r), fill=fill)
        else:
            pen.polygon(_polygon(shape, cx * s, cy * s, r, math.radians(float(rng.uniform(-25, 25)))), fill=fill)
    label = [int(shapes[0]), int(colours[0]), int(shapes[1]), int(colours[1]), _BACKS.index(back), ONE]
    return img.resize((w, h), Image.Resampling.BOX), label


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A frame with no shape: smoothed colour noise, a two-colour gradient, stripes or a checkerboard."""
    w, h = size
    kind = int(rng.integers(4))
    if kind == 0:
        cells = rng.integers(0, 256, size=(int(rng.integers(3, 24)), int(rng.integers(3, 24)), 3), dtype=np.uint8)
        img = Image.fromarray(cells).resize((w, h), Image.Resampling.BICUBIC)
        return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
    a, b = rng.integers(0, 256, size=(2, 3))
    if kind == 1:
        angle = rng.uniform(0, 2 * math.pi)
        y, x = np.mgrid[0:h, 0:w]
        t = (x * math.cos(angle) + y * math.sin(angle)).astype(np.float32)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        return Image.fromarray((a * (1 - t[..., None]) + b * t[..., None]).astype(np.uint8))
    period = int(rng.integers(4, 40))
    y, x = np.mgrid[0:h, 0:w]
    mask = (x // period) % 2 if kind == 2 else ((x // period) + (y // period)) % 2
    return Image.fromarray(np.where(mask[..., None] == 1, a, b).astype(np.uint8))


def _field(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A smooth, partly desaturated colour field: the background of a cluttered scene."""
    w, h = size
    cells = rng.integers(0, 256, size=(int(rng.integers(2, 7)), int(rng.integers(2, 7)), 3)).astype(np.float32)
    grey = cells.mean(-1, keepdims=True)
    cells = grey + (cells - grey) * float(rng.uniform(0.1, 1.0))
    img = Image.fromarray(cells.clip(0, 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6))))


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """An irregular closed outline: a circle bent by random harmonics (never close to a circle or a polygon)."""
    theta = np.linspace(0, 2 * math.pi, 64, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 7):
        radius += float(rng.uniform(0, 0.5 / k)) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    k = int(rng.integers(2, 5))
    radius += float(rng.uniform(0.15, 0.3)) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))  # clearly irregular
    stretch = float(rng.uniform(0.5, 1.6))
    return [(cx + r * q * math.cos(t) * stretch, cy + r * q * math.sin(t)) for t, q in zip(theta, radius.clip(0.2), strict=True)]


def _natural(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A cluttered frame: blobs of any colour (often dark or pale), bars and outlines over a colour field."""
    w, h = size
    img = _field(rng, size)
    pen = ImageDraw.Draw(img)
    side = min(w, h)
    for _ in range(int(rng.integers(2, 9))):
        dark = rng.random()
        fill = tuple(int(v) for v in (rng.integers(0, 60, 3) if dark < 0.3 else rng.integers(0, 256, 3)))
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        kind = rng.random()
        if kind < 0.65:
            pen.polygon(_blob(rng, cx, cy, float(rng.uniform(0.05, 0.45)) * side), fill=fill)
        elif kind < 0.85:
            pen.line((cx, cy, float(rng.uniform(0, w)), float(rng.uniform(0, h))), fill=fill, width=int(rng.integers(2, 12)))
        else:
            dx, dy = float(rng.uniform(0.1, 0.6)) * w, float(rng.uniform(0.1, 0.6)) * h
            pen.rectangle((cx - dx, cy - dy, cx + dx, cy + dy), outline=fill, width=int(rng.integers(2, 10)))
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2.5))))
    noise = rng.normal(0, float(rng.uniform(0, 12)), size=(h, w, 3))
    return Image.fromarray((np.asarray(img, dtype=np.float32) + noise).clip(0, 255).astype(np.uint8))


def sample_frame(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Image.Image, list[int]]:
    """One random training frame of `size` and its label row."""
    kind = rng.choice(len(MIX), p=MIX)
    if kind == 0:
        a = sample_attributes(rng, size)
        label = [SHAPES.index(a["shape"]), _COLOURS.index(a["color"]), -1, -1, _BACKS.index(a["background"]), ONE]
        return render_attributes(a, size), label
    if kind == 1:
        return _two_shapes(rng, size)
    if kind == 2:
        back = int(rng.integers(len(_BACKS)))
        return Image.new("RGB", size, BACKGROUNDS[_BACKS[back]]), [-1, -1, -1, -1, back, PLAIN]
    if kind == 3:
        return _texture(rng, size), [-1, -1, -1, -1, -1, TEXTURE]
    return _natural(rng, size), [-1, -1, -1, -1, -1, NATURAL]


def sample_caption(label: list[int], rng: np.random.Generator) -> tuple[str, list[int]]:
    """A caption that truly describes a frame with `label`, and the caption's own label row."""
    s1, c1, s2, c2, back, kind = label
    if kind == PLAIN:
        return PLAIN_TEMPLATES[rng.integers(len(PLAIN_TEMPLATES))].format(bg=_BACKS[back]), [-1, -1, -1, -1, back, PLAIN]
    if kind == TEXTURE:
        return TEXTURE_CAPTIONS[rng.integers(len(TEXTURE_CAPTIONS))], [-1, -1, -1, -1, -1, TEXTURE]
    if kind == NATURAL:
        return NATURAL_CAPTIONS[rng.integers(len(NATURAL_CAPTIONS))], [-1, -1, -1, -1, -1, NATURAL]
    pairs = [(s1, c1)] + ([(s2, c2)] if s2 >= 0 else [])
    order = [pairs[i] for i in rng.permutation(len(pairs))]
    if len(order) == 2 and rng.random() < 0.35:
        word = PAIR_WORDS[rng.integers(len(PAIR_WORDS))]
        (sa, ca), (sb, cb) = order
        text = f"a {_COLOURS[ca]} {SHAPES[sa]} {word} a {_COLOURS[cb]} {SHAPES[sb]}"
        return text, [sa, ca, sb, cb, -1, ONE]
    s, c = order[0]
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    named = "{background}" in template
    text = make_caption(SHAPES[s], _COLOURS[c], _BACKS[back], template)
    return text, [s, c, -1, -1, back if named else -1, ONE]


def positives(images: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
    """[images, captions] float matrix: 1 where the caption truly describes the frame."""
    i, c = images[:, None, :], captions[None, :, :]

    def shows(shape: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        return ((i[..., 0] == shape) & (i[..., 1] == colour)) | ((i[..., 2] == shape) & (i[..., 3] == colour))

    kind_same = i[..., 5] == c[..., 5]
    shape_ok = shows(c[..., 0], c[..., 1]) & ((c[..., 2] < 0) | shows(c[..., 2], c[..., 3]))
    back_ok = (c[..., 4] < 0) | (i[..., 4] == c[..., 4])
    one = (c[..., 5] == ONE) & shape_ok & back_ok
    plain = (c[..., 5] == PLAIN) & (i[..., 4] == c[..., 4])
    texture = c[..., 5] == TEXTURE
    natural = c[..., 5] == NATURAL
    return (kind_same & (one | plain | texture | natural)).float()
