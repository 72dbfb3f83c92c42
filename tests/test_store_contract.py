"""One contract for every store backend: Qdrant Edge, qdrant-client local mode, a Qdrant server."""

from __future__ import annotations

import numpy as np
import pytest

from framesearch.errors import InvalidInput, ModelMismatch, NotFound
from framesearch.store.base import SearchFilter
from framesearch.store.schema import FramePoint, VideoRecord

DIM = 4


def frames(video_id: str, vectors: list[list[float]], fps: float = 2.0, model: str = "m/1") -> list[FramePoint]:
    return [
        FramePoint(video_id, i * 12, i / fps, np.asarray(v, dtype=np.float32), fps, model, "results")
        for i, v in enumerate(vectors)
    ]


def write(store, video_id: str, vectors, run: str = "r1", model: str = "m/1") -> None:
    store.ensure_collection(model, DIM)
    store.upsert_frames(frames(video_id, vectors, model=model), run)
    store.sweep_stale(video_id, run)
    store.put_video(VideoRecord(video_id=video_id, model=model, source="results", frames=len(vectors)))


AXES = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def test_empty_store_has_no_collection_and_no_videos(store_factory):
    store = store_factory()
    assert store.info() is None
    assert store.list_videos() == []
    assert store.frame_count() == 0
    assert store.search(np.ones(DIM)) == []


def test_collection_records_its_model_and_refuses_another(store_factory):
    store = store_factory()
    info = store.ensure_collection("m/1", DIM)
    assert (info.model, info.dim) == ("m/1", DIM)
    assert store.ensure_collection("m/1", DIM) == info
    with pytest.raises(ModelMismatch, match="m/1"):
        store.ensure_collection("m/2", DIM)
    with pytest.raises(ModelMismatch):
        store.ensure_collection("m/1", DIM + 1)


def test_search_ranks_by_cosine_and_applies_threshold(store_factory):
    store = store_factory()
    write(store, "a", [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 1, 0, 0], [-1, 0, 0, 0]])
    hits = store.search(np.asarray([2.0, 0, 0, 0]), limit=10)
    assert [h.frame for h in hits[:2]] == [0, 12]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].video_id == "a" and hits[0].timestamp == 0.0 and hits[0].fps == 2.0
    above = store.search(np.asarray([1.0, 0, 0, 0]), limit=10, threshold=0.5)
    assert [h.frame for h in above] == [0, 12]


def test_search_filters_by_video_and_time(store_factory):
    store = store_factory()
    write(store, "a", [[1, 0, 0, 0]] * 4)
    write(store, "b", [[1, 0, 0, 0]] * 4)
    write(store, "c", [[1, 0, 0, 0]] * 4)
    only_b = store.search(np.asarray(AXES[0]), SearchFilter(video_ids=("b",)), limit=50)
    assert {h.video_id for h in only_b} == {"b"} and len(only_b) == 4
    two = store.search(np.asarray(AXES[0]), SearchFilter(video_ids=("a", "c")), limit=50)
    assert {h.video_id for h in two} == {"a", "c"}
    window = store.search(np.asarray(AXES[0]), SearchFilter(video_ids=("a",), t_min=0.5, t_max=1.0), limit=50)
    assert sorted(h.timestamp for h in window) == [0.5, 1.0]


def test_reingest_is_idempotent_and_sweeps_stale_frames(store_factory):
    store = store_factory()
    write(store, "a", AXES, run="r1")
    write(store, "a", AXES, run="r2")
    assert store.frame_count("a") == 4
    write(store, "a", AXES[:2], run="r3")
    assert store.frame_count("a") == 2
    assert [h.frame for h in store.frame_hits("a")] == [0, 12]


def test_videos_are_listed_fetched_and_deleted(store_factory):
    store = store_factory()
    write(store, "b", AXES)
    write(store, "shows/a.mp4", AXES[:3])
    assert [v.video_id for v in store.list_videos()] == ["b", "shows/a.mp4"]
    record = store.get_video("shows/a.mp4")
    assert (record.frames, record.model, record.source) == (3, "m/1", "results")
    assert store.delete_video("b") == 4
    assert store.frame_count("b") == 0 and store.frame_count() == 3
    assert [v.video_id for v in store.list_videos()] == ["shows/a.mp4"]
    with pytest.raises(NotFound, match="'b'"):
        store.get_video("b")
    with pytest.raises(NotFound):
        store.delete_video("b")


def test_frame_vector_returns_the_stored_normalised_vector(store_factory):
    store = store_factory()
    write(store, "a", [[3, 4, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_allclose(store.frame_vector("a", 0), [0.6, 0.8, 0, 0], atol=1e-5)
    with pytest.raises(NotFound):
        store.frame_vector("a", 999)


def test_wrong_query_dimension_is_invalid_input(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    with pytest.raises(InvalidInput, match="dimensions"):
        store.search(np.ones(DIM + 2))


def test_data_survives_reopening(store_factory, request):
    if "server" in request.node.name:
        pytest.skip("a server keeps data by itself; this checks local persistence")
    write(store_factory(), "a", AXES)
    reopened = store_factory()
    assert reopened.info().model == "m/1"
    assert reopened.frame_count("a") == 4
    assert reopened.get_video("a").frames == 4


def test_batched_searches_and_excluded_ranges(store_factory):
    store = store_factory()
    write(store, "a", [[1, 0, 0, 0]] * 4)  # frames at 0, 0.5, 1.0, 1.5 s
    write(store, "b", [[1, 0, 0, 0]] * 4)
    query = np.asarray(AXES[0])
    early, late_b = store.search_batch(query, [(SearchFilter(video_ids=("a",), t_max=0.5), 10),
                                               (SearchFilter(video_ids=("b",), t_min=1.0), 1)], threshold=0.5)
    assert sorted(h.timestamp for h in early) == [0.0, 0.5] and {h.video_id for h in early} == {"a"}
    assert len(late_b) == 1 and late_b[0].video_id == "b" and late_b[0].timestamp >= 1.0
    rest = store.search(query, SearchFilter(exclude=(("a", 0.0, 1.0), ("b", 0.0, 1.5))), limit=50)
    assert [(h.video_id, h.timestamp) for h in rest] == [("a", 1.5)]


def test_index_status_counts_the_frames_and_a_build_keeps_search_answers(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    before = [(h.video_id, h.frame) for h in store.search(np.asarray(AXES[1]), limit=2)]
    status = store.build_index()
    assert status.points == 4 and not status.pending
    assert [(h.video_id, h.frame) for h in store.search(np.asarray(AXES[1]), limit=2)] == before
