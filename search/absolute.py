"""Results scored on the absolute scale (search/background.py): each frame's confidence from its stored vector,
frames under the confidence floor dropped, moments cut where they drop, best confidence first.

The candidates come from a raw-cosine search at the floor's raw bound; only they are scored (the frames of the
answer, never the library). A moment keeps the frames that reach the floor and splits where more than BRIDGE frames
in a row between two kept ones do not: what joins frames into one moment (the gap rule, search/retrieval.py) is
decided before, on the raw scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from framesearch.search.background import BankCalibration
from framesearch.search.frame_tables import TABLES
from framesearch.search.models import FrameMatch, FrameScore, Segment
from framesearch.store.base import VectorStore

DIGITS = 4
BRIDGE = 1  # dropped frames a moment bridges between two kept ones


def frame_confidences(
    store: VectorStore, calibration: BankCalibration, frames: Sequence[tuple[str, int, float]]
) -> dict[tuple[str, int], float]:
    """The confidence of each (video id, frame, raw score), from the frames' stored vectors (0 when one is gone)."""
    vectors = TABLES.frame_vectors(store, [(v, f) for v, f, _ in frames])  # the moments' videos were just scored
    known = [(v, f, s) for v, f, s in frames if (v, f) in vectors]
    out = {(v, f): 0.0 for v, f, _ in frames}
    if known:
        matrix = np.stack([vectors[(v, f)] for v, f, _ in known])
        scores = np.asarray([s for _, _, s in known], dtype=np.float32)
        for (v, f, _), c in zip(known, calibration.confidences(scores, matrix), strict=True):
            out[(v, f)] = round(float(c), DIGITS)
    return out


def _pieces(segment: Segment, keep: list[bool]) -> list[list[FrameScore]]:
    """The runs of kept frames of a segment, bridging up to BRIDGE dropped frames between two kept ones (they stay
    in the moment with their own confidence): one frame dipping under the floor does not split a moment."""
    pieces: list[list[FrameScore]] = []
    held: list[FrameScore] = []  # dropped frames since the last kept one
    for frame, kept in zip(segment.frames or [], keep, strict=True):
        if not kept:
            held.append(frame)
            continue
        if pieces and len(held) <= BRIDGE:
            pieces[-1] += held + [frame]
        else:
            pieces.append([frame])
        held = []
    return pieces


def _segment(video_id: str, frames: list[FrameScore]) -> Segment:
    peak = max(frames, key=lambda f: (f.confidence or 0.0, f.score))
    return Segment(
        video_id=video_id,
        start=frames[0].timestamp,
        end=frames[-1].timestamp,
        score=max(f.score for f in frames),
        confidence=max(f.confidence or 0.0 for f in frames),
        peak_time=peak.timestamp,
        peak_frame=peak.frame,
        frame_count=len(frames),
        frames=frames,
    )


def apply_confidence(
    store: VectorStore,
    results: Sequence[Segment | FrameMatch],
    calibration: BankCalibration,
    floor: float | None,
) -> list:
    """`results` with each frame's confidence filled in; with a `floor`, frames under it dropped (moments split
    where they drop out). Ranked by confidence, then raw score."""
    if not results:
        return []
    if isinstance(results[0], FrameMatch):
        found = [r for r in results if isinstance(r, FrameMatch)]
        scored = frame_confidences(store, calibration, [(r.video_id, r.frame, r.score) for r in found])
        matches = []
        for r in found:
            r.confidence = scored[(r.video_id, r.frame)]
            if floor is None or r.confidence >= floor:
                matches.append(r)
        if floor is None:
            return matches
        return sorted(matches, key=lambda r: (-(r.confidence or 0.0), -r.score, r.video_id, r.timestamp))
    segments: list[Segment] = [r for r in results if isinstance(r, Segment)]
    scored = frame_confidences(store, calibration, [(s.video_id, f.frame, f.score) for s in segments for f in s.frames or []])
    out: list[Segment] = []
    for segment in segments:
        frames = segment.frames or []
        for frame in frames:
            frame.confidence = scored[(segment.video_id, frame.frame)]
        if floor is None:  # a raw threshold: the moments stand as found, in raw order
            segment.confidence = max((f.confidence or 0.0 for f in frames), default=0.0)
            out.append(segment)
            continue
        keep = [floor is None or (f.confidence or 0.0) >= floor for f in frames]
        out += [_segment(segment.video_id, piece) for piece in _pieces(segment, keep)]
    if floor is None:
        return out
    return sorted(out, key=lambda s: (-(s.confidence or 0.0), -s.score, s.video_id, s.start))
