"""CLIP embedders: text and image vectors from a local ONNX model folder, or text from Roboflow."""

from framesearch.embedders.base import ImageEmbedder, TextEmbedder
from framesearch.embedders.resolve import bundled_models_dir, load_text_embedder, resolve_model

__all__ = ["ImageEmbedder", "TextEmbedder", "bundled_models_dir", "load_text_embedder", "resolve_model"]
