"""Prompt ensembles: a text query embedded as the mean of the model's prompt templates, when its config asks.

A model folder's config.json may list `prompt_templates` (e.g. `["a photo of {}", "a video frame of {}"]`,
docs/model-format.md); the query fills each, and the normalised mean of their vectors is the query vector.
Models without templates (and Roboflow's text CLIP) embed the query as it is.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
from cachetools import LRUCache

from framesearch.vectors import normalize

QUERIES_KEPT = 4096  # query vectors kept per embedder (2 KB each at 512-d)
_QUERIES: weakref.WeakKeyDictionary[object, LRUCache[tuple, np.ndarray]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def templates_of(embedder: object) -> tuple[str, ...]:
    """The prompt templates the embedder's model asks for (none for most)."""
    config = getattr(embedder, "config", None)
    return tuple(getattr(config, "prompt_templates", ()) or ())


def query_vector(embedder: object, text: str) -> np.ndarray:
    """The query vector of `text`: the mean over the model's templates, or the text's own embedding. Kept per model
    and text (a text embeds to the same vector every time): a repeated query costs no model run (read-only)."""
    templates = templates_of(embedder)
    key = (templates, text)
    with _LOCK:
        try:
            kept = _QUERIES.setdefault(embedder, LRUCache(maxsize=QUERIES_KEPT))
        except TypeError:  # an embedder that cannot be referred to weakly: nothing kept
            kept = None
        vector = kept.get(key) if kept is not None else None
    if vector is not None:
        return vector
    texts = [t.replace("{}", text) for t in templates] if templates else [text]
    vectors = embedder.embed_texts(texts)  # type: ignore[attr-defined]
    vector = normalize(np.asarray(vectors, dtype=np.float32).mean(axis=0))
    vector.flags.writeable = False
    if kept is not None:
        with _LOCK:
            kept[key] = vector
    return vector
