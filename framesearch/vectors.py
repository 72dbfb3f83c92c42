"""Vector math shared by the store, the embedders and the search core."""

from __future__ import annotations

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (cosine scores then equal dot products); zero rows are left as they are."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
