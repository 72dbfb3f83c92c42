"""One contract for every store: Qdrant Edge, qdrant-client local mode, a Qdrant server, and the service's
HostedStore (an Edge store in a store process, reached through a pipe)."""

from __future__ import annotations

import numpy as np
import pytest

from framesearch.errors import InvalidInput, ModelMismatch, NotFound, StoreDamaged, VideoBusy
from framesearch.store.base import SearchFilter
from framesearch.store.schema import FramePoint, VideoRecord

DIM = 4


class WriterStopped(BaseException):
    """What stops a writer without an error of its own (as a KeyboardInterrupt or a kill would)."""


def frames(video_id: str, vectors: list[list[float]], fps: float = 2.0, model: str = "m/1") -> list[FramePoint]:
    return [
        FramePoint(video_id, i * 12, i / fps, np.asarray(v, dtype=np.float32), fps, model, "results")
        for i, v in enumerate(vectors)
    ]


def record(video_id: str, n: int, run: str | None, model: str = "m/1") -> VideoRecord:
    return VideoRecord(video_id=video_id, model=model, source="results", frames=n, ingest_run=run)


def write(store, video_id: str, vectors, model: str = "m/1") -> str:
    """One committed ingest run, as ingest/index.py writes it."""
    store.ensure_collection(model, DIM)
    with store.run(video_id) as run:
        run.write(frames(video_id, vectors, model=model))
        run.commit(record(video_id, len(vectors), run.id, model))
    return run.id


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


def test_search_videos_answers_the_video_and_score_of_each_hit_of_the_same_search(store_factory):
    store = store_factory()
    write(store, "a", [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 1, 0, 0]])
    write(store, "b", [[0.95, 0.05, 0, 0], [0, 0, 1, 0]])
    query = np.asarray([1.0, 0, 0, 0])
    for flt, threshold in ((SearchFilter(), None), (SearchFilter(skip_videos=("a",)), None), (SearchFilter(), 0.5)):
        hits = store.search(query, flt, limit=4, threshold=threshold)
        pairs = store.search_videos(query, flt, limit=4, threshold=threshold)
        assert [v for v, _ in pairs] == [h.video_id for h in hits]
        assert [s for _, s in pairs] == pytest.approx([h.score for h in hits], abs=1e-6)
    assert [v for v, _ in store.search_videos(query, limit=3)] == ["a", "b", "a"]
    assert store.search_videos(query, SearchFilter(skip_videos=("a", "b"))) == []


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


def test_reingest_replaces_and_sweeps_stale_frames(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    write(store, "a", AXES)
    assert store.frame_count("a") == 4 and store.stored_points() == 4
    write(store, "a", AXES[:2])
    assert store.frame_count("a") == 2 and store.stored_points() == 2
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


def visible_frames(store, video_id: str) -> list[tuple[int, str]]:
    """(frame, video) of every searchable frame of `video_id`, by a search that matches everything."""
    hits = store.search(np.ones(DIM), SearchFilter(video_ids=(video_id,)), limit=100, threshold=-1.0)
    return sorted((h.frame, h.video_id) for h in hits)


def test_an_uncommitted_run_is_invisible_and_the_old_version_stays_searchable(store_factory):
    store = store_factory()
    write(store, "a", AXES[:2])
    old = store.frame_vector("a", 12)
    with store.run("a") as run:
        run.write(frames("a", [[0, 0, 1, 0]] * 3))  # three new frames, other vectors
        assert visible_frames(store, "a") == [(0, "a"), (12, "a")]
        assert store.frame_count("a") == 2 and store.frame_count() == 2 and store.stored_points() == 5
        np.testing.assert_allclose(store.frame_vector("a", 12), old)
        assert store.get_video("a").frames == 2

        run.commit(record("a", 3, run.id))  # the one write that switches versions, before any sweep
        assert visible_frames(store, "a") == [(0, "a"), (12, "a"), (24, "a")]
        assert store.frame_count("a") == 3 and store.stored_points() == 5
        np.testing.assert_allclose(store.frame_vector("a", 12), [0, 0, 1, 0], atol=1e-6)
    assert store.stored_points() == 3 and store.run_markers() == []


def test_a_new_video_is_invisible_until_committed(store_factory):
    store = store_factory()
    write(store, "a", AXES[:1])
    with store.run("b") as run:
        run.write(frames("b", AXES))
        assert visible_frames(store, "b") == [] and store.frame_count() == 1
        assert [v.video_id for v in store.list_videos()] == ["a"]
        with pytest.raises(NotFound):
            store.frame_vector("b", 0)
        run.commit(record("b", 4, run.id))
        assert len(visible_frames(store, "b")) == 4 and store.frame_count() == 5
    assert store.stored_points() == 5 and store.run_markers() == []


def test_a_run_left_without_a_commit_or_by_an_error_is_rolled_back(store_factory):
    store = store_factory()
    write(store, "a", AXES[:2])
    with store.run("a") as run:
        run.write(frames("a", AXES))
    with pytest.raises(ValueError, match="boom"):
        with store.run("a") as run:
            run.write(frames("a", AXES))
            raise ValueError("boom")
    assert store.stored_points() == 2 and store.run_markers() == [] and store.get_video("a").frames == 2
    assert visible_frames(store, "a") == [(0, "a"), (12, "a")]


def test_one_writer_per_video(store_factory):
    store = store_factory()
    write(store, "a", AXES[:1])
    with store.run("a"):  # left without a commit: rolled back
        with pytest.raises(VideoBusy, match="'a'"):
            with store.run("a"):
                pass
        with pytest.raises(VideoBusy):
            store.delete_video("a")
        with store.run("b"):  # another video is free
            pass
    assert store.get_video("a").frames == 1 and store.stored_points() == 1
    write(store, "a", AXES)  # free again
    assert store.frame_count("a") == 4


def test_an_abandoned_run_is_rolled_back_and_frees_its_video(store_factory):
    store = store_factory()
    write(store, "a", AXES[:2])
    with pytest.raises(WriterStopped):  # as if the writer died: its marker stays, nothing cleaned
        with store.run("a") as run:
            run.write(frames("a", AXES))
            raise WriterStopped
    assert [m.video_id for m in store.run_markers()] == ["a"]
    assert store.frame_count("a") == 2 and store.stored_points() == 6
    rolled_back = store.recover()
    assert [m.ingest_run for m in rolled_back] == [run.id]
    assert store.stored_points() == 2 and store.run_markers() == [] and store.get_video("a").frames == 2
    write(store, "a", AXES)  # the video is writable again
    assert store.frame_count("a") == 4


def test_an_abandoned_first_ingest_leaves_nothing(store_factory):
    store = store_factory()
    store.ensure_collection("m/1", DIM)
    with pytest.raises(WriterStopped):
        with store.run("new") as run:
            run.write(frames("new", AXES))
            raise WriterStopped
    store.recover()
    assert store.stored_points() == 0 and store.list_videos() == []


def test_delete_is_a_run_and_leaves_no_marker(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    write(store, "b", AXES[:1])
    assert store.delete_video("a") == 4
    assert store.run_markers() == [] and store.stored_points() == 1


def test_verify_finds_records_that_disagree_with_points(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    store.verify()
    store.put_video(record("a", 9, store.get_video("a").ingest_run))
    with pytest.raises(StoreDamaged, match="9 frames"):
        store.verify()


def test_a_writer_elsewhere_keeps_its_points_when_another_run_of_its_video_finishes(store_factory):
    """Two processes on one Qdrant server that start the same video at the same instant both pass the claim:
    each finish keeps the other's run while its writer lives, so the last commit wins with all its frames."""
    import time as clock

    from framesearch.store.hosted import HostedStore
    from framesearch.store.runs import RunMarker

    store = store_factory()
    if isinstance(store, HostedStore):
        pytest.skip("writes a marker of another host and their points through the store's primitives")
    write(store, "a", AXES[:1])
    mine = store.begin_run("a")
    theirs = RunMarker(
        video_id="a", ingest_run="theirs", host="another-host", pid=1, started_at="now", heartbeat=clock.time()
    )  # a live writer on another machine
    store._put_marker(theirs)
    with pytest.raises(VideoBusy, match="being written"):
        store.begin_run("a")
    store.upsert_frames(frames("a", AXES[:2]), mine)
    store.upsert_frames(frames("a", AXES[:3]), "theirs")
    store.commit_run(record("a", 2, mine))
    store.finish_run("a", mine)
    assert store.frame_count("a") == 2 and store.stored_points() == 5  # their 3 points kept, hidden
    assert [m.ingest_run for m in store.run_markers("a")] == ["theirs"]
    store.commit_run(record("a", 3, "theirs"))  # their commit, then their finish
    store.finish_run("a", "theirs")
    assert store.frame_count("a") == 3 and store.stored_points() == 3 and store.run_markers() == []
    store.verify()


def test_batched_searches_and_excluded_ranges(store_factory):
    store = store_factory()
    write(store, "a", [[1, 0, 0, 0]] * 4)  # frames at 0, 0.5, 1.0, 1.5 s
    write(store, "b", [[1, 0, 0, 0]] * 4)
    query = np.asarray(AXES[0])
    early, late_b = store.search_batch(
        query, [(SearchFilter(video_ids=("a",), t_max=0.5), 10), (SearchFilter(video_ids=("b",), t_min=1.0), 1)], threshold=0.5
    )
    assert sorted(h.timestamp for h in early) == [0.0, 0.5] and {h.video_id for h in early} == {"a"}
    assert len(late_b) == 1 and late_b[0].video_id == "b" and late_b[0].timestamp >= 1.0
    rest = store.search(query, SearchFilter(exclude=(("a", 0.0, 1.0), ("b", 0.0, 1.5))), limit=50)
    assert [(h.video_id, h.timestamp) for h in rest] == [("a", 1.5)]
    others = store.search(query, SearchFilter(skip_videos=("a",)), limit=50)
    assert len(others) == 4 and {h.video_id for h in others} == {"b"}
    assert store.search(query, SearchFilter(skip_videos=("a", "b")), limit=50) == []


def test_index_status_counts_the_frames_and_a_build_keeps_search_answers(store_factory):
    store = store_factory()
    write(store, "a", AXES)
    before = [(h.video_id, h.frame) for h in store.search(np.asarray(AXES[1]), limit=2)]
    status = store.build_index()
    assert status.points == 4 and not status.pending
    assert [(h.video_id, h.frame) for h in store.search(np.asarray(AXES[1]), limit=2)] == before


def test_records_are_found_by_content_hash_and_by_any_of_their_paths(store_factory):
    store = store_factory()
    for vid, digest, paths in [("a.mp4", "h1", ["/m/a.mp4", "/copy/a.mp4"]), ("b.mp4", "h2", ["/m/b.mp4"]), ("c", "h1", [])]:
        run = write(store, vid, [AXES[0]])
        store.put_video(
            record(vid, 1, run).model_copy(update={"content_hash": digest, "path": (paths or [None])[0], "paths": paths})
        )
    assert [r.video_id for r in store.videos_where(content_hash="h1")] == ["a.mp4", "c"]
    assert [r.video_id for r in store.videos_where(path="/copy/a.mp4")] == ["a.mp4"]  # any path, not only the first
    assert [r.video_id for r in store.videos_where(path="/m/b.mp4", content_hash="h2")] == ["b.mp4"]
    assert store.videos_where(path="/m/b.mp4", content_hash="h1") == [] and store.videos_where(content_hash="none") == []
    old = record("old.mp4", 1, write(store, "old.mp4", [AXES[1]])).model_copy(update={"path": "/m/old.mp4", "content_hash": "h3"})
    store.put_video(old)  # a record written before `paths`: found by its `path`
    assert [r.video_id for r in store.videos_where(path="/m/old.mp4")] == ["old.mp4"]
    store = store_factory()  # indexes and records survive reopening
    assert [r.known_paths() for r in store.videos_where(content_hash="h1")] == [["/m/a.mp4", "/copy/a.mp4"], []]


def test_a_videos_frames_come_in_time_order_with_their_vectors(store_factory):
    """`video_frames`: every committed frame of the video (what a frame table holds), hits with their fields and the
    stored (unit) vectors in the same order; another version of the video replaces them."""
    store = store_factory()
    write(store, "a", [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0]])
    write(store, "b", [[0, 0, 0, 1]])
    hits, vectors = store.video_frames(SearchFilter(video_ids=("a",)))
    assert [h.frame for h in hits] == [0, 12, 24] and [h.timestamp for h in hits] == sorted(h.timestamp for h in hits)
    assert {h.video_id for h in hits} == {"a"} and all(h.fps for h in hits)
    assert np.allclose(vectors, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], atol=1e-6)
    write(store, "a", [[0, 0, 0, 1]] * 2)
    hits, vectors = store.video_frames(SearchFilter(video_ids=("a",)))
    assert len(hits) == 2 and np.allclose(vectors, [[0, 0, 0, 1]] * 2, atol=1e-6)
    assert store.video_frames(SearchFilter(video_ids=("nothing",)))[0] == []
