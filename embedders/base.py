"""What the rest of the code needs of an embedder: a name (the model identity), a size, and vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns text queries into L2-normalised vectors of a named model."""

    name: str
    aliases: tuple[str, ...]
    dim: int
    default_threshold: float

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class ImageEmbedder(Protocol):
    """Turns RGB images (HxWx3 uint8 arrays) into L2-normalised vectors of a named model."""

    name: str
    dim: int

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


def accepts(embedder: TextEmbedder, model: str) -> bool:
    """Whether vectors recorded as `model` are comparable with this embedder's."""
    return model == embedder.name or model in embedder.aliases
