"""Negative terms ("X but not Y"): frames that match a negative text as well as the query go, and so do the
moments mostly made of them.

Both sides are compared on the calibrated scale (search/calibration.py), where scores of different texts
mean the same: a frame goes when its confidence for a negative is at least its confidence for the query
minus NEGATIVE_MARGIN, i.e. the negative describes it better, or about as well. On the absolute scale of text
queries (search/background.py) the query and the negative are two captions in one softmax over the frame's
captions: a frame goes when the negative is at least NEGATIVE_RATIO times as likely as the query,
exp(T (s_neg - s_query)) >= NEGATIVE_RATIO. A moment goes when more than
half of its frames go. The frames' stored vectors are scored against the negatives in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framesearch.search.background import BankCalibration
from framesearch.search.calibration import Calibration, calibrate
from framesearch.search.models import FrameMatch, Segment
from framesearch.store.base import VectorStore
from framesearch.vectors import normalize

NEGATIVE_MARGIN = 0.1
NEGATIVE_RATIO = 0.5  # absolute scale: the negative is at least half as likely a caption of the frame as the query
NEGATIVE_OVERFETCH = 3  # fetch more moments when some may go, so that `limit` are left
MOSTLY = 0.5


@dataclass(frozen=True)
class Negative:
    vector: np.ndarray
    calibration: Calibration | BankCalibration | None

    @classmethod
    def of(cls, store: VectorStore, vector: np.ndarray) -> Negative:
        return cls(normalize(np.asarray(vector, dtype=np.float32).reshape(-1)), calibrate(store, vector))

    def confidence(self, vectors: np.ndarray) -> np.ndarray:
        """The negative's confidence for each row of `vectors` (raw cosine when the library cannot calibrate)."""
        return _scaled(self.calibration, normalize(vectors) @ self.vector, vectors)


def _scaled(calibration: Calibration | BankCalibration | None, scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Raw scores on the calibration's scale (absolute scales need the frames' vectors)."""
    if calibration is None:
        return scores
    if isinstance(calibration, BankCalibration):
        return calibration.confidences(scores, vectors)
    return np.asarray([calibration.confidence(float(s)) for s in scores])


def negative_frames(
    store: VectorStore,
    frames: Sequence[tuple[str, int, float]],
    calibration: Calibration | BankCalibration | None,
    negatives: Sequence[Negative],
    margin: float = NEGATIVE_MARGIN,
) -> set[tuple[str, int]]:
    """The (video id, frame) pairs among `frames` (video id, frame, query score) that a negative takes."""
    if not frames or not negatives:
        return set()
    vectors = store.frame_vectors([(v, f) for v, f, _ in frames])
    known = [(v, f, s) for v, f, s in frames if (v, f) in vectors]
    if not known:
        return set()
    matrix = np.stack([vectors[(v, f)] for v, f, _ in known])
    positive = _scaled(calibration, np.asarray([s for _, _, s in known], dtype=np.float32), matrix)
    taken = np.zeros(len(known), dtype=bool)
    for negative in negatives:
        if isinstance(calibration, BankCalibration):  # one softmax over the frame's captions: compare likelihoods
            raw = normalize(matrix) @ negative.vector - np.asarray([s for _, _, s in known], dtype=np.float32)
            taken |= calibration.temperature * raw >= np.log(NEGATIVE_RATIO)
        else:
            taken |= negative.confidence(matrix) >= positive - margin
    return {(v, f) for (v, f, _), gone in zip(known, taken, strict=True) if gone}


def drop_negative_frames(
    store: VectorStore,
    results: Sequence[FrameMatch],
    calibration: Calibration | BankCalibration | None,
    negatives: Sequence[Negative],
) -> list[FrameMatch]:
    """The frames (frames mode) that no negative takes."""
    taken = negative_frames(store, [(r.video_id, r.frame, r.score) for r in results], calibration, negatives)
    return [r for r in results if (r.video_id, r.frame) not in taken]


def drop_negative_moments(
    store: VectorStore,
    results: Sequence[Segment],
    calibration: Calibration | BankCalibration | None,
    negatives: Sequence[Negative],
) -> list[Segment]:
    """The moments (segments mode) not mostly made of frames a negative takes."""
    frames = [(s.video_id, f.frame, f.score) for s in results for f in s.frames or []]
    taken = negative_frames(store, frames, calibration, negatives)
    return [s for s in results if sum((s.video_id, f.frame) in taken for f in s.frames or []) <= MOSTLY * len(s.frames or [])]
