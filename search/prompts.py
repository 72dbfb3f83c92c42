"""Prompt ensembles: a text query embedded as the mean of the model's prompt templates, when its config asks.

A model folder's config.json may list `prompt_templates` (e.g. `["a photo of {}", "a video frame of {}"]`,
docs/model-format.md); the query fills each, and the normalised mean of their vectors is the query vector.
Models without templates (and Roboflow's text CLIP) embed the query as it is.
"""

from __future__ import annotations

import numpy as np

from framesearch.vectors import normalize


def templates_of(embedder: object) -> tuple[str, ...]:
    """The prompt templates the embedder's model asks for (none for most)."""
    config = getattr(embedder, "config", None)
    return tuple(getattr(config, "prompt_templates", ()) or ())


def query_vector(embedder: object, text: str) -> np.ndarray:
    """The query vector of `text`: the mean over the model's templates, or the text's own embedding."""
    templates = templates_of(embedder)
    texts = [t.replace("{}", text) for t in templates] if templates else [text]
    vectors = embedder.embed_texts(texts)  # type: ignore[attr-defined]
    return normalize(np.asarray(vectors, dtype=np.float32).mean(axis=0))
