"""Integrity reads of a store check (the cheap check every open makes is QdrantStore.verify).

Stored vectors are unit length (cosine); a point whose vector is gone or is not unit length comes from
damaged files. Records' frame counts must add up to the searchable points.
"""

from __future__ import annotations

import numpy as np

from framesearch.store.base import QdrantStore, SearchFilter
from framesearch.store.schema import VIDEO_ID

UNIT_TOLERANCE = 1e-3


def vectorless_points(store: QdrantStore) -> dict[str, int]:
    """Frame points whose vector is gone (a damaged vector store hides them from searches), per video."""
    if store.info() is None:
        return {}
    return {v: n for v, n in store._facet(VIDEO_ID, SearchFilter(vectorless=True)).items() if n > 0}


def read_every_frame(store: QdrantStore) -> dict[str, int]:
    """Read every frame point, payload and vector (StoreDamaged where files are unreadable); returns per video
    the vectors that are not unit length."""
    if store.info() is None:
        return {}
    bad: dict[str, int] = {}
    for point in store._scroll("frames", SearchFilter(), with_vectors=True):
        hit = store._hit(point.payload, 0.0)
        vector = np.asarray(point.vector or (), dtype=np.float64)
        if vector.size and not (np.all(np.isfinite(vector)) and abs(float(vector @ vector) - 1.0) < UNIT_TOLERANCE):
            bad[hit.video_id] = bad.get(hit.video_id, 0) + 1
    return bad
