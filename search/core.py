"""The search core: a validated request in, ranked segments or frames out. No web code, no printing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD, TextEmbedder
from framesearch.errors import InvalidInput, NotFound
from framesearch.search.absolute import apply_confidence
from framesearch.search.background import BankCalibration, bank_calibration
from framesearch.search.calibration import Calibration, calibrate
from framesearch.search.edges import snap_edges
from framesearch.search.frame_tables import DEFAULT_CACHE_MB
from framesearch.search.models import (
    FrameMatch,
    SearchFilters,
    SearchRequest,
    SearchResponse,
    Segment,
    SimilarRequest,
    ThresholdKind,
)
from framesearch.search.negatives import NEGATIVE_OVERFETCH, Negative, drop_negative_frames, drop_negative_moments
from framesearch.search.pages import offset_of, page
from framesearch.search.prompts import query_vector
from framesearch.search.retrieval import Seed, retrieve_runs, seed_count
from framesearch.search.segments import SCORE_DIGITS, stamp_wall_clock
from framesearch.settings import Settings
from framesearch.store.base import SearchFilter, VectorStore
from framesearch.store.schema import FrameHit
from framesearch.validation import MAX_LIMIT
from framesearch.vectors import normalize

ABSOLUTE_OVERFETCH = 2  # moments fetched per one answered: some fall under the confidence floor


def search(
    store: VectorStore, request: SearchRequest, settings: Settings, embedder: TextEmbedder | None = None
) -> SearchResponse:
    """Run a search. A text query needs the embedder of the collection's model; the calibrated default
    threshold applies unless the request or the `threshold` setting names a cosine one."""
    texts = [t for t in (request.q, request.then, *request.negatives) if t is not None]
    if texts and embedder is None:
        raise InvalidInput("a text query needs a model to embed it")
    scoped = within_prefix(store, request)
    if scoped is None:
        return nothing_under(store, request, settings, embedder)
    request = scoped
    vector = query_vector(embedder, request.q) if request.q is not None else np.asarray(request.vector, dtype=np.float32)
    negatives = [query_vector(embedder, text) for text in request.negatives]
    if request.then is not None:
        from framesearch.search.sequences import search_sequences

        return search_sequences(store, vector, query_vector(embedder, request.then), request, settings, embedder, negatives)
    return search_vector(store, vector, request, settings, embedder, query=request.q, negatives=negatives)


R = TypeVar("R", bound=SearchFilters)


def within_prefix(store: VectorStore, request: R) -> R | None:
    """`under`: the videos whose id starts with the prefix, as a filter of their ids (and of `video_id`'s, when
    both are given); None when no video is there."""
    if not request.under:
        return request
    _, records = store.video_page(under=request.under)
    wanted = set(request.video_id)
    ids = [r.video_id for r in records if not wanted or r.video_id in wanted]
    return request.model_copy(update={"video_id": ids, "under": None}) if ids else None


def nothing_under(store: VectorStore, request: SearchFilters, settings: Settings, embedder: object = None) -> SearchResponse:
    """The answer when the `under` prefix holds no video: nothing, with the threshold the search would have used."""
    check_videos_known(store, request.video_id)
    threshold, kind, min_confidence = resolve_threshold(request, settings, embedder, None)
    info = store.info()
    mode = "sequences" if getattr(request, "then", None) is not None else request.mode
    return SearchResponse(
        query=getattr(request, "q", None),
        mode=mode,
        threshold=round(threshold, SCORE_DIGITS),
        threshold_kind=kind,
        min_confidence=min_confidence,
        model=info.model if info else None,
        count=0,
        results=[],
    )


def similar(store: VectorStore, request: SimilarRequest, settings: Settings) -> SearchResponse:
    """More like this: the stored vector of one frame is the query."""
    vector = store.frame_vector(request.like.video_id, request.like.frame)
    scoped = within_prefix(store, request)
    return nothing_under(store, request, settings) if scoped is None else search_vector(store, vector, scoped, settings)


def check_videos_known(store: VectorStore, video_ids: list[str]) -> None:
    """A filter naming a video the library does not hold is a mistake to report, not a search with no matches."""
    missing = []
    for video_id in dict.fromkeys(video_ids):
        try:
            store.get_video(video_id)
        except NotFound:
            missing.append(video_id)
    if missing:
        more = f" (and {len(missing) - 1} more of the ids given)" if len(missing) > 1 else ""
        raise NotFound(f"no video {missing[0]!r} in the library{more}")


def default_threshold(settings: Settings, embedder: object | None) -> float:
    """The cosine threshold in force when a request names none and the library cannot calibrate:
    the setting, else the model's own, else CLIP's."""
    if settings.threshold is not None:
        return settings.threshold
    return float(getattr(embedder, "default_threshold", DEFAULT_THRESHOLD))


def resolve_threshold(
    filters: SearchFilters,
    settings: Settings,
    embedder: object | None,
    calibration: Calibration | BankCalibration | None,
) -> tuple[float, ThresholdKind, float | None]:
    """The raw cosine floor to search with, its kind, and the confidence floor it stands for (if calibrated).
    A cosine threshold given in the request (or the `threshold` setting) is applied as it is."""
    if filters.threshold is not None:
        return filters.threshold, "cosine", None
    if filters.min_confidence is None and settings.threshold is not None:
        return settings.threshold, "cosine", None
    if calibration is None:
        return default_threshold(settings, embedder), "cosine", None
    wanted = filters.min_confidence if filters.min_confidence is not None else settings.min_confidence
    return calibration.raw_floor(wanted), "calibrated", wanted


def store_filter(filters: SearchFilters) -> SearchFilter:
    return SearchFilter(tuple(filters.video_id), filters.t_min, filters.t_max)


def retrieve_moments(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    threshold: float,
    limit: int,
    first: Sequence[Seed] | None = None,
    calibration: Calibration | None = None,
    cache_mb: float = DEFAULT_CACHE_MB,
    listed: bool = True,
) -> list[Segment]:
    """The ranked moments of the library above the raw `threshold`, each frame with its confidence under
    `calibration`. `first`: the top seeds for the filters with no threshold (`first_depth` of them), when the
    caller has searched already (search/retrieval.py)."""
    confidence = calibration.confidence if calibration is not None else None
    runs = retrieve_runs(store, vector, store_filter(filters), limit, threshold, first, cache_mb)
    return [run.segment(confidence, listed) for run in runs]


def retrieve_frames(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    threshold: float,
    limit: int,
    first: Sequence[FrameHit] | None = None,
    calibration: Calibration | None = None,
) -> list[FrameMatch]:
    """The ranked frames of the library above the raw `threshold` (frames mode), as `retrieve_moments`."""
    confidence = calibration.confidence if calibration is not None else None
    if first is not None:
        hits = [h for h in first if h.score >= threshold]
    else:
        hits = store.search(vector, store_filter(filters), limit=limit, threshold=threshold)
    matches = []
    for h in hits:
        score = round(h.score, SCORE_DIGITS)
        matches.append(
            FrameMatch(  # validated: faster than model_construct, which walks the fields in Python
                video_id=h.video_id,
                frame=h.frame,
                timestamp=h.timestamp,
                score=score,
                confidence=round(confidence(score), 4) if confidence else None,
                wall_time=h.wall_time,
            )
        )
    return matches


def ranked(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    threshold: float,
    limit: int,
    first: Sequence[FrameHit] | Sequence[Seed] | None,
    calibration: Calibration | None,
    negatives: Sequence[np.ndarray] = (),
    cache_mb: float = DEFAULT_CACHE_MB,
) -> list[Segment] | list[FrameMatch]:
    """The moments (edges snapped) or frames of the filters' mode, annotated, without what a negative takes.
    `first`: what the caller searched already (`first_search`): seeds for moments, hits for frames."""
    drop = [Negative.of(store, n) for n in negatives]
    if filters.mode == "segments":
        listed = bool(filters.frames or drop)  # else summaries: the frames of ~20 moments cost ~3 ms to list
        seeds = cast("Sequence[Seed] | None", first)  # first_search gives seeds in this mode
        found = retrieve_moments(store, vector, filters, threshold, limit, seeds, calibration, cache_mb, listed)
        moments = snap_edges(store, found)
        annotate(moments, calibration)
        return drop_negative_moments(store, moments, calibration, drop) if drop else moments
    hits = cast("Sequence[FrameHit] | None", first)  # ... and frame hits in this one
    frames = retrieve_frames(store, vector, filters, threshold, limit, hits, calibration)
    annotate(frames, calibration)
    return drop_negative_frames(store, frames, calibration, drop) if drop else frames


def first_search(
    store: VectorStore, vector: np.ndarray, filters: SearchFilters, wanted: int
) -> tuple[list[FrameHit] | list[Seed] | None, float | None]:
    """A search of the whole library gives the seeds and the best score (for calibration; -1 when nothing is
    stored) at once: (video id, score) seeds for moments, frame hits for frames; (None, None) for a filtered search."""
    if store_filter(filters) != SearchFilter():
        return None, None
    depth = first_depth(filters.mode, wanted)
    if filters.mode == "segments":
        seeds = store.search_videos(vector, SearchFilter(), limit=depth)
        return seeds, seeds[0][1] if seeds else -1.0
    hits = store.search(vector, SearchFilter(), limit=depth)
    return hits, hits[0].score if hits else -1.0


def first_depth(mode: str, limit: int) -> int:
    """How many frames `retrieve_moments` or `retrieve_frames` search for first (the seeds of a segment search)."""
    return seed_count(limit) if mode == "segments" else limit


def annotate(results: Sequence[Segment | FrameMatch], calibration: Calibration | None) -> None:
    """Fill in each result's (and each segment frame's) calibrated confidence where it is missing."""
    if calibration is None:
        return
    for result in results:
        result.confidence = round(calibration.confidence(result.score), 4)
        for frame in getattr(result, "frames", None) or ():
            if frame.confidence is None:
                frame.confidence = round(calibration.confidence(frame.score), 4)


def search_vector(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    settings: Settings,
    embedder: object | None = None,
    *,
    query: str | None = None,
    negatives: Sequence[np.ndarray] = (),
) -> SearchResponse:
    """Search with a query vector; `embedder` (the model that made it, if known) supplies the fallback threshold.
    A text query (`query` with its `embedder`) is scored on the absolute scale (search/background.py); a vector
    query (an image, "more like this") on the library-relative one (search/calibration.py)."""
    check_videos_known(store, filters.video_id)
    if query is not None and embedder is not None:
        return search_text_vector(store, vector, filters, settings, embedder, query, negatives)
    limit = filters.limit or settings.limit
    depth = page_depth(store, filters, limit)
    wanted = depth * NEGATIVE_OVERFETCH if negatives else depth
    first, best = first_search(store, vector, filters, wanted)
    calibration = calibrate(store, vector, best=best)
    threshold, kind, min_confidence = resolve_threshold(filters, settings, embedder, calibration)
    results = ranked(store, vector, filters, threshold, wanted, first, calibration, negatives, settings.search_cache_mb)
    return answer(store, filters, query, results, limit, (threshold, kind, min_confidence))


def answer(
    store: VectorStore,
    filters: SearchFilters,
    query: str | None,
    results: list[Segment] | list[FrameMatch],
    limit: int,
    floor: tuple[float, ThresholdKind, float | None],
) -> SearchResponse:
    """The response: the page of the ranked `results` the request asks for, with the floor that applied."""
    threshold, kind, min_confidence = floor
    shown, next_cursor = page(results, offset_of(filters), limit, filters)
    stamp_wall_clock(shown)
    if not filters.frames:
        for result in shown:
            if isinstance(result, Segment):
                result.frames = None  # a moment's summary; its frames only on request
    info = store.info()
    return SearchResponse(
        query=query,
        mode=filters.mode,
        threshold=round(threshold, SCORE_DIGITS),
        threshold_kind=kind,
        min_confidence=min_confidence,
        model=info.model if info else None,
        count=len(shown),
        results=shown,
        next_cursor=next_cursor,
    )


def page_depth(store: VectorStore, filters: SearchFilters, limit: int) -> int:
    """The results a page needs: the pages up to this one, and one more (is there a next page?); deep pages never
    ask the index for more results than it holds frames."""
    depth = offset_of(filters) + limit + 1
    return min(depth, store.frame_count() + 1) if depth > MAX_LIMIT else depth


def search_text_vector(
    store: VectorStore,
    vector: np.ndarray,
    filters: SearchFilters,
    settings: Settings,
    embedder: object,
    query: str,
    negatives: Sequence[np.ndarray] = (),
) -> SearchResponse:
    """A text query's search: candidates above the raw bound of the confidence floor, each frame's absolute
    confidence from its vector, frames under the floor dropped, ranked by confidence (search/absolute.py)."""
    limit = filters.limit or settings.limit
    wanted = page_depth(store, filters, limit) * (NEGATIVE_OVERFETCH if negatives else 1) * ABSOLUTE_OVERFETCH
    calibration = bank_calibration(store, embedder, vector)
    threshold, kind, min_confidence = resolve_threshold(filters, settings, embedder, calibration)
    # the query and each negative: two captions competing for each frame (search/negatives.py)
    banked = [Negative(normalize(n), bank_calibration(store, embedder, n)) for n in negatives]
    results: list[Segment] | list[FrameMatch]
    if filters.mode == "segments":
        moments = retrieve_moments(store, vector, filters, threshold, wanted, cache_mb=settings.search_cache_mb)
        moments = snap_edges(store, apply_confidence(store, moments, calibration, min_confidence))
        results = drop_negative_moments(store, moments, calibration, banked) if banked else moments
    else:
        frames = retrieve_frames(store, vector, filters, threshold, wanted)
        frames = apply_confidence(store, frames, calibration, min_confidence)
        results = drop_negative_frames(store, frames, calibration, banked) if banked else frames
    return answer(store, filters, query, results, limit, (threshold, kind, min_confidence))
