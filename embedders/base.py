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


def recorded_name(embedder: TextEmbedder | ImageEmbedder, collection_model: str | None) -> str:
    """The model name to store with new vectors: the collection's, when it is this model under another name."""
    aliases = getattr(embedder, "aliases", ())
    if collection_model and (collection_model == embedder.name or collection_model in aliases):
        return collection_model
    return embedder.name
