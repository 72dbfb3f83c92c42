"""The search core: a query (text, vector or image) in, ranked segments or frames out. No web code here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from framesearch.embedders.base import TextEmbedder
from framesearch.errors import InvalidInput
from framesearch.search.segments import group_segments
from framesearch.store.base import SearchFilter, VectorStore
from framesearch.store.schema import is_finite_number

Mode = Literal["segments", "frames"]
FALLBACK_THRESHOLD = 0.2
FRAMES_PER_SEGMENT = 25
MAX_FRAMES = 10_000


@dataclass
class SearchRequest:
    """What to look for and where; exactly one of `text` and `vector`."""

    text: str | None = None
    vector: Sequence[float] | None = None
    video_ids: Sequence[str] = ()
    t_min: float | None = None
    t_max: float | None = None
    threshold: float | None = None
    limit: int = 20
    mode: Mode = "segments"

    def validate(self) -> None:
        if (self.text is None or not self.text.strip()) == (self.vector is None):
            raise InvalidInput("give either a text query or a query vector")
        if self.vector is not None and (not len(self.vector) or not all(is_finite_number(x) for x in self.vector)):
            raise InvalidInput("query vector must be a non-empty list of finite numbers")
        if not 1 <= self.limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, got {self.limit}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise InvalidInput(f"threshold is a cosine score between -1 and 1, got {self.threshold}")
        if self.mode not in ("segments", "frames"):
            raise InvalidInput(f"mode must be 'segments' or 'frames', got {self.mode!r}")
        if self.t_min is not None and self.t_max is not None and self.t_min > self.t_max:
            raise InvalidInput(f"time range is empty: from {self.t_min} to {self.t_max}")


@dataclass
class SearchResponse:
    query: str | None
    mode: Mode
    threshold: float
    model: str | None
    results: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "mode": self.mode,
            "threshold": self.threshold,
            "model": self.model,
            "count": len(self.results),
            "results": self.results,
        }


def search(store: VectorStore, request: SearchRequest, embedder: TextEmbedder | None = None) -> SearchResponse:
    """Run a search; text queries need the embedder of the collection's model."""
    request.validate()
    info = store.info()
    if request.text is not None and request.text.strip():
        if embedder is None:
            raise InvalidInput("a text query needs a model (--model)")
        vector = embedder.embed_texts([request.text.strip()])[0]
        default = embedder.default_threshold
    else:
        vector = np.asarray(request.vector, dtype=np.float32)
        default = FALLBACK_THRESHOLD
    threshold = default if request.threshold is None else request.threshold
    flt = SearchFilter(tuple(request.video_ids), request.t_min, request.t_max)
    frame_limit = request.limit if request.mode == "frames" else min(request.limit * FRAMES_PER_SEGMENT, MAX_FRAMES)
    hits = store.search(vector, flt, limit=frame_limit, threshold=threshold)
    if request.mode == "frames":
        results = [
            {"video_id": h.video_id, "frame": h.frame, "timestamp": h.timestamp, "score": round(h.score, 6)}
            for h in hits
        ]
    else:
        results = [s.to_dict() for s in group_segments(hits)[: request.limit]]
    return SearchResponse(request.text, request.mode, threshold, info.model if info else None, results)
