"""Image queries: an uploaded picture's CLIP image embedding becomes the query vector.

Decoding is bounded: the size in pixels is read from the header and refused past `max_pixels` before
anything is decoded (well below Pillow's own decompression-bomb limit), JPEGs decode straight at a reduced
scale (`draft`), and others are reduced by an integer factor right after decoding, so the full-size image is
the only large buffer and lives briefly.
"""

from __future__ import annotations

import io

import numpy as np

from framesearch.embedders.base import ImageEmbedder
from framesearch.errors import InvalidInput, PayloadTooLarge

MAX_IMAGE_BYTES = 25 * 1024 * 1024
QUERY_IMAGE_SIDE = 1024
DEFAULT_MAX_PIXELS = 40_000_000
READABLE = "JPEG, PNG, WebP, GIF, BMP and TIFF"


def decode_image(data: bytes, max_side: int = QUERY_IMAGE_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """RGB pixels of an uploaded image (any format Pillow reads), downscaled so its longer side is at most `max_side`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidInput("the query image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(f"the query image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that is enough
            width, height = img.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"the query image has {width}x{height} pixels; the limit is {max_pixels / 1e6:g} megapixels"
                )
            work = img if img.mode in ("RGB", "L") else img.convert("RGB")  # reduce() averages values, not palettes
            factor = max(width, height) // max_side
            small = work.reduce(factor) if factor >= 2 else work
            del work
            small = ImageOps.exif_transpose(small).convert("RGB")
            small.thumbnail((max_side, max_side))
            return np.asarray(small, dtype=np.uint8)
    except UnidentifiedImageError:  # Pillow's message names a Python object (<_io.BytesIO object at 0x...>)
        raise InvalidInput(f"the query is not an image in a format this service reads ({READABLE})") from None
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"the query image has too many pixels; the limit is {max_pixels / 1e6:g} megapixels") from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidInput(f"the query image is damaged or cut short: it cannot be decoded ({READABLE} are read)") from None


def image_vector(data: bytes, embedder: ImageEmbedder, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The CLIP image embedding of an uploaded image, as a query vector."""
    return embedder.embed_images([decode_image(data, max_pixels=max_pixels)])[0]
