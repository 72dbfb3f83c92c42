"""A video's score timeline: every indexed frame's score and confidence for a query, from the stored vectors
in one pass (one scroll of the video's points, one matrix product), for the page's heatmap and for scripts."""

from __future__ import annotations

import numpy as np

from framesearch.errors import InvalidInput
from framesearch.search.calibration import calibrate
from framesearch.search.core import resolve_threshold
from framesearch.search.models import SearchRequest, Timeline, TimelinePoint
from framesearch.search.negatives import Negative, negative_frames
from framesearch.search.prompts import query_vector
from framesearch.search.segments import SCORE_DIGITS
from framesearch.settings import Settings
from framesearch.store.base import SearchFilter, VectorStore
from framesearch.vectors import normalize


def timeline(
    store: VectorStore, video_id: str, request: SearchRequest, settings: Settings, embedder: object | None = None
) -> Timeline:
    """Score every indexed frame of `video_id` (within the request's time range) against the request's query."""
    if request.then is not None:
        raise InvalidInput("a timeline scores one query: `then` does not apply")
    if (request.q is not None or request.negatives) and embedder is None:
        raise InvalidInput("a text query needs a model to embed it")
    record = store.get_video(video_id)
    vector = query_vector(embedder, request.q) if request.q is not None else np.asarray(request.vector, dtype=np.float32)
    calibration = calibrate(store, vector)
    threshold, kind, min_confidence = resolve_threshold(request, settings, embedder, calibration)
    hits, vectors = store.video_frames(SearchFilter((video_id,), request.t_min, request.t_max))
    if len(hits) and vectors.shape[1] != np.asarray(vector).reshape(-1).shape[0]:
        raise InvalidInput(f"query vector has {np.asarray(vector).size} dimensions; the collection's have {vectors.shape[1]}")
    scores = normalize(vectors) @ normalize(np.asarray(vector, dtype=np.float32).reshape(-1)) if len(hits) else np.zeros(0)
    taken: set = set()
    if request.negatives:
        negatives = [Negative.of(store, query_vector(embedder, text)) for text in request.negatives]
        frames = [(h.video_id, h.frame, float(s)) for h, s in zip(hits, scores, strict=True) if s >= threshold]
        taken = negative_frames(store, frames, calibration, negatives)
    points = [
        TimelinePoint(
            frame=h.frame,
            timestamp=h.timestamp,
            score=round(float(s), SCORE_DIGITS),
            confidence=None if calibration is None else round(calibration.confidence(float(s)), 4),
            match=bool(s >= threshold) and (h.video_id, h.frame) not in taken,
        )
        for h, s in zip(hits, scores, strict=True)
    ]
    info = store.info()
    return Timeline(
        video_id=video_id,
        query=request.q,
        model=info.model if info else None,
        threshold=round(threshold, SCORE_DIGITS),
        threshold_kind=kind,
        min_confidence=min_confidence,
        duration=record.duration,
        cuts=record.cuts,
        count=len(points),
        points=points,
    )
