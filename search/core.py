"""The search core: a validated request in, ranked segments or frames out. No web code, no printing."""

from __future__ import annotations

import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD, TextEmbedder
from framesearch.errors import InvalidInput
from framesearch.search.models import FrameMatch, SearchFilters, SearchRequest, SearchResponse, SimilarRequest
from framesearch.search.retrieval import retrieve_segments
from framesearch.search.segments import SCORE_DIGITS, segments_of
from framesearch.settings import Settings
from framesearch.store.base import SearchFilter, VectorStore


def search(
    store: VectorStore, request: SearchRequest, settings: Settings, embedder: TextEmbedder | None = None
) -> SearchResponse:
    """Run a search. A text query needs the embedder of the collection's model; its default threshold applies
    unless the request or the `threshold` setting names one."""
    if request.q is not None:
        if embedder is None:
            raise InvalidInput("a text query needs a model to embed it")
        vector = embedder.embed_texts([request.q])[0]
    else:
        vector = np.asarray(request.vector, dtype=np.float32)
    return search_vector(store, vector, request, settings, embedder, query=request.q)


def similar(store: VectorStore, request: SimilarRequest, settings: Settings) -> SearchResponse:
    """More like this: the stored vector of one frame is the query."""
    vector = store.frame_vector(request.like.video_id, request.like.frame)
    return search_vector(store, vector, request, settings)


def default_threshold(settings: Settings, embedder: object | None) -> float:
    """The threshold in force when a request names none: the setting, else the model's own, else CLIP's."""
    if settings.threshold is not None:
        return settings.threshold
    return float(getattr(embedder, "default_threshold", DEFAULT_THRESHOLD))


def search_vector(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    settings: Settings,
    embedder: object | None = None,
    *,
    query: str | None = None,
) -> SearchResponse:
    """Search with a query vector; `embedder` (the model that made it, if known) supplies the default threshold."""
    threshold = filters.threshold if filters.threshold is not None else default_threshold(settings, embedder)
    limit = filters.limit or settings.limit
    flt = SearchFilter(tuple(filters.video_id), filters.t_min, filters.t_max)
    if filters.mode == "frames":
        hits = store.search(vector, flt, limit=limit, threshold=threshold)
        results: list = [
            FrameMatch(video_id=h.video_id, frame=h.frame, timestamp=h.timestamp, score=round(h.score, SCORE_DIGITS))
            for h in hits
        ]
    else:
        results = segments_of(retrieve_segments(store, vector, flt, limit, threshold))
    info = store.info()
    return SearchResponse(
        query=query,
        mode=filters.mode,
        threshold=threshold,
        model=info.model if info else None,
        count=len(results),
        results=results,
    )
