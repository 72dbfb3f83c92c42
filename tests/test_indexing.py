"""The search index exists after every ingest: the CLI builds it at the end of `ingest results` / `ingest local`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.store.edge import EdgeStore
from framesearch.store.schema import INDEX
from tests.conftest import results_json

runner = CliRunner()


def write(path, count: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim))
    frames = list(range(count))
    path.write_text(json.dumps(results_json(frames, [f / 3 for f in frames], vectors.tolist())))
    return vectors


def test_ingest_results_leaves_the_frames_indexed(tmp_path):
    count = INDEX.index_min_frames + 1000
    vectors = write(tmp_path / "big.json", count)
    result = runner.invoke(
        app, ["--store", str(tmp_path / "s"), "ingest", "results", str(tmp_path / "big.json"), "--model", "clip/index"]
    )
    assert result.exit_code == 0, result.output
    assert f"search index: indexed: {count} frames" in result.output
    info = runner.invoke(app, ["--store", str(tmp_path / "s"), "store", "info"])  # the same words
    assert f"indexed: {count} frames" in info.stdout and "partly" not in info.stdout
    with EdgeStore(tmp_path / "s") as store:
        status = store.index_status()
        assert (status.points, status.indexed, status.pending) == (count, count, False)
        hits = store.search(vectors[123], limit=1)
        assert (hits[0].video_id, hits[0].frame) == ("big", 123)


def test_a_search_inside_one_long_video_finds_its_nearest_frames(tmp_path):
    """A video longer than the full-scan threshold is searched through the graph (its own HNSW links): a search
    filtered to it returns that video's exact nearest frames, not only frames near the whole library's."""
    from framesearch.store.base import SearchFilter

    count = INDEX.full_scan_frames + 1000
    vectors = write(tmp_path / "long.json", count)
    write(tmp_path / "other.json", 50, seed=1)
    result = runner.invoke(
        app,
        [
            "--store",
            str(tmp_path / "s"),
            "ingest",
            "results",
            str(tmp_path / "long.json"),
            str(tmp_path / "other.json"),
            "--model",
            "clip/index",
        ],
    )
    assert result.exit_code == 0, result.output
    with EdgeStore(tmp_path / "s") as store:
        assert store.index_status().indexed == count + 50
        query = vectors[4321] + np.random.default_rng(7).normal(size=vectors.shape[1]) * 0.05
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        exact = set(np.argsort(-(units @ query))[:5].tolist())
        hits = store.search(query, limit=5, flt=SearchFilter(video_ids=("long",)))
        assert {h.video_id for h in hits} == {"long"} and {h.frame for h in hits} == exact


def test_a_store_written_without_a_build_is_indexed_by_the_next_ingest(tmp_path):
    from framesearch.ingest.index import ingest_results
    from framesearch.ingest.results import load_results_file

    count = INDEX.index_min_frames + 500
    write(tmp_path / "first.json", count)
    with EdgeStore(tmp_path / "s") as store:  # a crash before the build: frames stored, none indexed
        ingest_results(store, load_results_file(tmp_path / "first.json"), "first", model="clip/index")
        assert store.index_status().indexed == 0
    write(tmp_path / "second.json", 10, seed=1)
    result = runner.invoke(
        app,
        ["--store", str(tmp_path / "s"), "ingest", "results", str(tmp_path / "second.json"), "--model", "clip/index", "--json"],
    )
    assert result.exit_code == 0, result.output
    with EdgeStore(tmp_path / "s") as store:
        assert store.index_status().indexed >= count


@pytest.mark.slow
def test_ingest_local_builds_the_index_once_at_the_end(tmp_path, tiny_clip_dir, sample_video):
    result = runner.invoke(
        app,
        [
            "--store",
            str(tmp_path / "s"),
            "ingest",
            "local",
            str(sample_video),
            "--fps",
            "2",
            "--model",
            str(tiny_clip_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "search index: " in result.output


def _answers(store_dir, queries, limit: int = 5) -> list[list[tuple[str, int]]]:
    with EdgeStore(store_dir) as store:
        return [[(h.video_id, h.frame) for h in store.search(q, limit=limit)] for q in queries]


def test_defer_index_answers_as_a_normal_ingest_and_store_index_builds_it(tmp_path):
    """`--defer-index` writes the frames unindexed (Qdrant scans them exactly: the same answers as the indexed
    store, and the exact ones), and `framesearch store index` builds the index later without changing them."""
    count = INDEX.index_min_frames + 1000
    vectors = write(tmp_path / "big.json", count, dim=16)
    small = write(tmp_path / "small.json", 300, dim=16, seed=1)
    files = [str(tmp_path / "big.json"), str(tmp_path / "small.json")]
    normal = runner.invoke(app, ["--store", str(tmp_path / "a"), "ingest", "results", *files, "--model", "clip/index"])
    assert normal.exit_code == 0, normal.output
    deferred = runner.invoke(
        app, ["--store", str(tmp_path / "b"), "ingest", "results", *files, "--model", "clip/index", "--defer-index"]
    )
    assert deferred.exit_code == 0, deferred.output
    assert "deferred: run `framesearch store index`" in deferred.output
    with EdgeStore(tmp_path / "b") as store:
        status = store.index_status()
        assert (status.points, status.indexed) == (count + 300, 0)
    rng = np.random.default_rng(3)
    queries = vectors[rng.integers(0, count, 8)] + rng.normal(size=(8, 16)) * 0.05
    every = np.vstack([vectors, small])
    units = every / np.linalg.norm(every, axis=1, keepdims=True)
    names = [("big", i) for i in range(count)] + [("small", i) for i in range(300)]
    exact = [[names[i] for i in np.argsort(-(units @ q))[:5]] for q in queries]
    before = _answers(tmp_path / "b", queries)
    assert before == exact
    assert _answers(tmp_path / "a", queries) == before

    built = runner.invoke(app, ["--store", str(tmp_path / "b"), "store", "index"])
    assert built.exit_code == 0, built.output
    assert f"indexed: {count + 300} frames" in built.output
    with EdgeStore(tmp_path / "b") as store:
        status = store.index_status()
        assert (status.points, status.indexed, status.pending) == (count + 300, count + 300, False)
    assert _answers(tmp_path / "b", queries) == before
    again = runner.invoke(app, ["--store", str(tmp_path / "b"), "store", "index", "--json"])  # nothing left to build
    assert again.exit_code == 0 and json.loads(again.stdout)["indexed"] == count + 300


def test_store_index_on_a_missing_store_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["--store", str(tmp_path / "none"), "store", "index"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
