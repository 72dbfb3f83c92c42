"""What the rest of the code needs of an embedder: a name (the model identity), a size, and vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

DEFAULT_THRESHOLD = 0.2  # CLIP ViT-B: matches score 0.25-0.35, unrelated pairs 0.10-0.18 (README)
ROBOFLOW_CLIP_MODEL = "clip/ViT-B-16"  # the identity of the vectors Roboflow's Video Inference returns


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
    """Turns RGB images (HxWx3 uint8 arrays) into L2-normalised vectors of a named model.

    `input_size` is the shorter side the model looks at (frames are decoded no larger); `model_path` is the
    folder a collection records for it, None for a remote model.
    """

    name: str
    aliases: tuple[str, ...]
    dim: int
    default_threshold: float

    @property
    def input_size(self) -> int: ...

    @property
    def model_path(self) -> str | None: ...

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


@runtime_checkable
class ModelRecord(Protocol):
    """What a collection records of the model its vectors come from (the store's CollectionInfo fits); read-only."""

    @property
    def model(self) -> str: ...

    @property
    def model_path(self) -> str | None: ...


def accepts(embedder: TextEmbedder, model: str) -> bool:
    """Whether vectors recorded as `model` are comparable with this embedder's."""
    return model == embedder.name or model in embedder.aliases


def recorded_name(embedder: TextEmbedder | ImageEmbedder, collection_model: str | None) -> str:
    """The model name to store with new vectors: the collection's, when it is this model under another name."""
    aliases = getattr(embedder, "aliases", ())
    if collection_model and (collection_model == embedder.name or collection_model in aliases):
        return collection_model
    return embedder.name
