"""The store's search breadth: a search whose best hit scores low (a text-like query, far from every frame) is run
again wider; checked against exact (brute-force) search, never by timings."""

from __future__ import annotations

import numpy as np
import pytest

from framesearch.store.base import SearchFilter
from framesearch.store.edge import EdgeStore
from framesearch.store.schema import INDEX, LOW_SCORE, WIDE_EF, FramePoint, VideoRecord, needs_wider, search_ef

DIM = 64
VIDEOS, PER_VIDEO = 8, 1000  # 8,000 frames: over the indexing threshold, so searches walk an HNSW graph


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A store of clustered frames (scenes around shared topics, plus a common direction as CLIP's), indexed."""
    rng = np.random.default_rng(0)
    topics = unit(rng.normal(size=(40, DIM)))
    common = unit(rng.normal(size=DIM))
    scenes = topics[rng.integers(0, 40, VIDEOS * PER_VIDEO // 50)]
    vectors = unit(np.repeat(scenes, 50, axis=0) + rng.normal(size=(VIDEOS * PER_VIDEO, DIM)) * 0.25 + common)
    root = tmp_path_factory.mktemp("breadth") / "s"
    with EdgeStore(root) as store:
        store.ensure_collection("m/1", DIM)
        for v in range(VIDEOS):
            video = f"v{v}"
            rows = vectors[v * PER_VIDEO : (v + 1) * PER_VIDEO]
            with store.run(video) as run:
                run.write([FramePoint(video, i, i / 3, rows[i], 3.0, "m/1", "results") for i in range(PER_VIDEO)])
                run.commit(VideoRecord(video_id=video, model="m/1", source="results", frames=PER_VIDEO, ingest_run=run.id))
        assert store.build_index().indexed == VIDEOS * PER_VIDEO
    queries = {
        "near-frame": unit(vectors[rng.integers(0, len(vectors), 30)] + rng.normal(size=(30, DIM)) * 0.05),
        "text-like": unit(topics[rng.integers(0, 40, 30)] + rng.normal(size=(30, DIM)) * 0.2),
        "random": unit(rng.normal(size=(30, DIM))),
    }
    return root, vectors, queries


def recall(store: EdgeStore, vectors: np.ndarray, queries: np.ndarray) -> float:
    found = []
    for q in queries:
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        hits = {int(h.video_id[1:]) * PER_VIDEO + h.frame for h in store.search(q, limit=10)}
        found.append(len(hits & exact) / 10)
    return float(np.mean(found))


def test_the_rule():
    assert search_ef(128, 10) == 128 and search_ef(16, 100) == 100 and search_ef(128, 10, wide=True) == 128 * WIDE_EF
    assert needs_wider(0.27, None) and needs_wider(0.1, 0.05) and not needs_wider(0.9, None)
    assert not needs_wider(None, None)  # nothing stored (or filtered out): nothing a wider search can find
    assert needs_wider(None, 0.2) and not needs_wider(None, LOW_SCORE)  # nothing above a high threshold: a true no


@pytest.mark.parametrize("kind", ["near-frame", "text-like", "random"])
def test_adaptive_breadth_never_lowers_recall(library, kind):
    root, vectors, queries = library
    with EdgeStore(root) as store:
        store.hnsw_ef = 8  # a narrow search, so that the graph misses neighbours and widening shows
        store.adaptive_ef = False
        fixed = recall(store, vectors, queries[kind])
        store.adaptive_ef = True
        adaptive = recall(store, vectors, queries[kind])
    assert adaptive >= fixed
    best = float(np.max(queries[kind] @ vectors.T, axis=1).mean())
    if best < LOW_SCORE:
        assert adaptive > fixed or fixed == 1.0  # widened: these searches gain


def test_only_low_scoring_searches_are_widened(library, monkeypatch):
    root, vectors, queries = library
    with EdgeStore(root) as store:
        calls: list[bool] = []
        query = store._query

        def spy(*args, wide: bool = False, **kwargs):
            calls.append(wide)
            return query(*args, wide=wide, **kwargs)

        monkeypatch.setattr(store, "_query", spy)
        store.search(queries["near-frame"][0], limit=10)
        assert calls == [False]
        calls.clear()
        hits = store.search(queries["random"][0], limit=10)
        assert calls == [False, True] and hits[0].score < LOW_SCORE
        calls.clear()
        assert store.search(queries["random"][0], limit=10) == hits
        assert calls == [True]  # the same query again (the next round of a segment search): wide at once
        calls.clear()
        assert store.search(queries["random"][0], limit=10, threshold=0.9) == [] and calls == [False]
        calls.clear()
        store.search(queries["random"][0], SearchFilter(video_ids=("v1",), t_min=0, t_max=100), limit=10)
        assert calls == [False]  # the frames of one span are scored exactly: nothing to widen


def test_batched_searches_widen_the_low_scoring_ones(library):
    root, vectors, queries = library
    with EdgeStore(root) as store:
        store.hnsw_ef = 8
        q = queries["random"][1]
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        store.adaptive_ef = False
        narrow = store.search_batch(q, [(SearchFilter(), 10), (SearchFilter(video_ids=("v1",)), 5)])
        store.adaptive_ef = True
        answers = store.search_batch(q, [(SearchFilter(), 10), (SearchFilter(video_ids=("v1",)), 5)])
        assert answers[0] == store.search(q, limit=10)
        found = {int(h.video_id[1:]) * PER_VIDEO + h.frame for h in answers[0]}
        before = {int(h.video_id[1:]) * PER_VIDEO + h.frame for h in narrow[0]}
        assert len(found & exact) >= len(before & exact)
        assert {h.video_id for h in answers[1]} == {"v1"}


def test_a_store_without_a_graph_is_searched_once(tmp_path, monkeypatch):
    """Below the indexing threshold every search is exact: a low best score is the truth, not a miss."""
    rng = np.random.default_rng(1)
    vectors = unit(rng.normal(size=(200, DIM)))
    with EdgeStore(tmp_path / "s") as store:
        store.ensure_collection("m/1", DIM)
        with store.run("v0") as run:
            run.write([FramePoint("v0", i, i / 3, vectors[i], 3.0, "m/1", "results") for i in range(200)])
            run.commit(VideoRecord(video_id="v0", model="m/1", source="results", frames=200, ingest_run=run.id))
        store.build_index()
        assert store.index_status().indexed < INDEX.index_min_frames
        calls: list[bool] = []
        query = store._query
        monkeypatch.setattr(store, "_query", lambda *a, wide=False, **k: calls.append(wide) or query(*a, wide=wide, **k))
        q = unit(rng.normal(size=DIM))
        hits = store.search(q, limit=5)
        assert calls == [False]
        assert [h.frame for h in hits] == np.argsort(-(vectors @ q))[:5].tolist()
