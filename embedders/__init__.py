"""CLIP embedders: text and image vectors from a local ONNX model folder, or from Roboflow."""

from framesearch.embedders.base import DEFAULT_THRESHOLD, ImageEmbedder, TextEmbedder
from framesearch.embedders.resolve import bundled_models_dir, image_embedder, resolve_model, text_embedder

__all__ = [
    "DEFAULT_THRESHOLD",
    "ImageEmbedder",
    "TextEmbedder",
    "bundled_models_dir",
    "image_embedder",
    "resolve_model",
    "text_embedder",
]
