"""Image queries: an uploaded picture's CLIP image embedding becomes the query vector."""

from __future__ import annotations

import io

import numpy as np

from framesearch.embedders.base import ImageEmbedder
from framesearch.errors import InvalidInput

MAX_IMAGE_BYTES = 25 * 1024 * 1024
QUERY_IMAGE_SIDE = 1024


def decode_image(data: bytes, max_side: int = QUERY_IMAGE_SIDE) -> np.ndarray:
    """RGB pixels of an uploaded image (any format Pillow reads), downscaled so its longer side is at most `max_side`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidInput("the query image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"the query image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (max_side, max_side))
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((max_side, max_side))
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"the query is not a readable image ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"the query image is damaged ({exc})") from None


def image_vector(data: bytes, embedder: ImageEmbedder) -> np.ndarray:
    """The CLIP image embedding of an uploaded image, as a query vector."""
    return embedder.embed_images([decode_image(data)])[0]
