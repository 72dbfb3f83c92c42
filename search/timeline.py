"""A video's score timeline: every indexed frame's score and confidence for a query, from the stored vectors
in one pass (one scroll of the video's points, one matrix product), for the page's heatmap and for scripts."""

from __future__ import annotations

import numpy as np

from framesearch.errors import InvalidInput
from framesearch.search.background import BankCalibration, bank_calibration
from framesearch.search.calibration import Calibration, calibrate
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
    text = request.q is not None and embedder is not None
    calibration: Calibration | BankCalibration | None = (
        bank_calibration(store, embedder, vector) if text else calibrate(store, vector)
    )
    threshold, kind, min_confidence = resolve_threshold(request, settings, embedder, calibration)
    hits, vectors = store.video_frames(SearchFilter((video_id,), request.t_min, request.t_max))
    if len(hits) and vectors.shape[1] != np.asarray(vector).reshape(-1).shape[0]:
        raise InvalidInput(f"query vector has {np.asarray(vector).size} dimensions; the collection's have {vectors.shape[1]}")
    scores = normalize(vectors) @ normalize(np.asarray(vector, dtype=np.float32).reshape(-1)) if len(hits) else np.zeros(0)
    confidences = _confidences(calibration, scores, vectors)
    passed = scores >= threshold
    if confidences is not None and min_confidence is not None:
        passed &= confidences >= min_confidence
    taken: set = set()
    if request.negatives:
        rivals = _vectors(embedder, request)
        frames = [(h.video_id, h.frame, float(s)) for h, s, ok in zip(hits, scores, passed, strict=True) if ok]
        if text:
            negatives = [Negative(normalize(n), bank_calibration(store, embedder, n)) for n in rivals]
            taken = negative_frames(store, frames, calibration, negatives)
        else:
            taken = negative_frames(store, frames, calibration, [Negative.of(store, n) for n in rivals])
    points = [
        TimelinePoint(
            frame=h.frame,
            timestamp=h.timestamp,
            score=round(float(s), SCORE_DIGITS),
            confidence=None if confidences is None else round(float(confidences[i]), 4),
            match=bool(passed[i]) and (h.video_id, h.frame) not in taken,
        )
        for i, (h, s) in enumerate(zip(hits, scores, strict=True))
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


def _vectors(embedder: object, request: SearchRequest) -> list[np.ndarray]:
    return [query_vector(embedder, text) for text in request.negatives]


def _confidences(calibration: Calibration | BankCalibration | None, scores: np.ndarray, vectors: np.ndarray) -> np.ndarray | None:
    """Each frame's confidence on the calibration's scale (None without one)."""
    if calibration is None:
        return None
    if isinstance(calibration, BankCalibration):
        return calibration.confidences(scores, vectors) if len(scores) else np.zeros(0)
    return np.asarray([calibration.confidence(float(s)) for s in scores])
