"""Sequences ("X then Y"): a moment of the query followed, in the same video, by a moment of the `then` text
that starts after it starts and at most `within` seconds after it ends.

Both parts are searched as moments (same filters, thresholds and negatives); each first moment pairs with
its best following moment. A result spans from the first's start to the second's end, carries both parts,
and ranks by the lower of the two confidences (the weaker part), then by the mean raw score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from framesearch.search.models import SearchRequest, SearchResponse, Segment, SequenceMatch
from framesearch.search.pages import offset_of, page
from framesearch.settings import Settings
from framesearch.store.base import VectorStore

PART_FACTOR = 5  # moments fetched per part for each sequence asked for
EPS = 1e-3


def _rank(segment: Segment) -> tuple[float, float]:
    return (segment.confidence if segment.confidence is not None else segment.score, segment.score)


def pair_moments(first: Sequence[Segment], second: Sequence[Segment], within: float) -> list[SequenceMatch]:
    """Each first moment with its best follower (see the module's doc), best pairs first."""
    pairs = []
    for a in first:
        followers = [
            b for b in second if b.video_id == a.video_id and b.start > a.start + EPS and b.start - a.end <= within + EPS
        ]
        if not followers:
            continue
        b = max(followers, key=_rank)
        confidence = None if a.confidence is None or b.confidence is None else min(a.confidence, b.confidence)
        pairs.append(
            SequenceMatch(
                video_id=a.video_id,
                start=a.start,
                end=max(a.end, b.end),
                score=round((a.score + b.score) / 2, 6),
                confidence=confidence,
                peak_time=a.peak_time,
                gap=round(max(b.start - a.end, 0.0), 4),
                first=a,
                then=b,
            )
        )
    pairs.sort(key=lambda p: (-(p.confidence if p.confidence is not None else p.score), -p.score, p.video_id, p.start))
    return pairs


def moments(response: SearchResponse) -> list[Segment]:
    """The moments of a part's answer (a request with `then` is in segments mode: its parts answer moments)."""
    return [r for r in response.results if isinstance(r, Segment)]


def search_sequences(
    store: VectorStore,
    vector: np.ndarray,
    then_vector: np.ndarray,
    request: SearchRequest,
    settings: Settings,
    embedder: object | None,
    negatives: Sequence[np.ndarray] = (),
) -> SearchResponse:
    """Moments of the query followed by moments of `request.then` within `request.within` seconds."""
    from framesearch.search.core import search_vector

    limit = request.limit or settings.limit
    offset = offset_of(request)
    depth = offset + limit + 1
    parts = request.model_copy(update={"limit": depth * PART_FACTOR, "then": None, "cursor": None})
    first = search_vector(store, vector, parts, settings, embedder, query=request.q, negatives=negatives)
    first_moments = moments(first)
    videos = sorted({s.video_id for s in first_moments})
    second_moments: list[Segment] = []
    if videos:
        scoped = parts.model_copy(update={"video_id": videos})
        second = search_vector(store, then_vector, scoped, settings, embedder, query=request.then, negatives=negatives)
        second_moments = moments(second)
    pairs, next_cursor = page(pair_moments(first_moments, second_moments, float(request.within or 0.0)), offset, limit, request)
    return first.model_copy(update={"mode": "sequences", "count": len(pairs), "results": pairs, "next_cursor": next_cursor})
