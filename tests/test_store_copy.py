"""`store copy` and `store info`: a library moves between Qdrant Edge folders, qdrant-client's local mode and a server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.errors import StoreError, TargetNotEmpty
from framesearch.store.client import ClientStore
from framesearch.store.copy import copy_library, verify_copy
from framesearch.store.edge import EdgeStore
from framesearch.store.info import describe
from tests.conftest import empty_collection

runner = CliRunner()
MODEL = "tests/tiny-colour-clip"


def cli(*args: str, store: Path | None = None):
    return runner.invoke(app, [*(["--store", str(store)] if store else []), *args])


@pytest.fixture
def source(tmp_path, colour_results, tiny_clip_dir) -> Path:
    """An Edge store holding three videos of coloured frames (Roboflow results files)."""
    store = tmp_path / "source"
    files = [
        colour_results("reds", [("red", 2), ("blue", 1)]),
        colour_results("greens", [("green", 3)]),
        colour_results("mixed", [("blue", 1), ("red", 1), ("green", 1)]),
    ]
    for path in files:
        assert cli("ingest", "results", str(path), "--model", str(tiny_clip_dir), store=store).exit_code == 0
    return store


def answers(tiny_clip_dir: Path, *where: str) -> dict:
    """Records (as listed) and search answers for a few colours, through the CLI."""
    videos = json.loads(runner.invoke(app, [*where, "videos", "list", "--json"]).stdout)
    found = {}
    for colour in ("red", "green", "blue"):
        result = runner.invoke(app, [*where, "--model", str(tiny_clip_dir), "search", colour, "--json", "--limit", "50"])
        found[colour] = json.loads(result.stdout)["results"]
    return {"videos": videos, "answers": found}


@pytest.mark.slow
def test_copy_between_edge_stores_reproduces_the_library_and_resumes(tmp_path, source, tiny_clip_dir):
    target = tmp_path / "target"
    result = cli("store", "copy", "--to", str(target), "--json", store=source)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["videos"], report["copied"], report["points"], report["verified_videos"]) == (3, 3, 18, 3)
    assert report["sampled_vectors"] == 18
    assert answers(tiny_clip_dir, "--store", str(target)) == answers(tiny_clip_dir, "--store", str(source))

    again = json.loads(cli("store", "copy", "--to", str(target), "--json", store=source).stdout)
    assert (again["copied"], again["skipped"], again["points"]) == (0, 3, 0)


@pytest.mark.slow
def test_an_interrupted_copy_is_resumed_by_running_it_again(tmp_path, source, tiny_clip_dir):
    calls = []

    def stop_after_first_video(done: int, total: int | None) -> None:
        calls.append(done)
        raise KeyboardInterrupt

    with EdgeStore(source) as src, EdgeStore(tmp_path / "target") as dst, pytest.raises(KeyboardInterrupt):
        copy_library(src, dst, progress=stop_after_first_video)
    with EdgeStore(tmp_path / "target") as dst:
        # the half-copied video was never committed: invisible, and rolled back when the target is opened again
        assert calls[0] > 0 and dst.list_videos() == [] and dst.frame_count() == 0 and dst.stored_points() == 0
    result = cli("store", "copy", "--to", str(tmp_path / "target"), store=source)
    assert result.exit_code == 0, result.output
    assert answers(tiny_clip_dir, "--store", str(tmp_path / "target")) == answers(tiny_clip_dir, "--store", str(source))


def test_a_target_with_another_library_is_refused_unless_merging(tmp_path, source, colour_results, tiny_clip_dir):
    other = tmp_path / "other"
    assert (
        cli(
            "ingest", "results", str(colour_results("elsewhere", [("red", 1)])), "--model", str(tiny_clip_dir), store=other
        ).exit_code
        == 0
    )
    refused = cli("store", "copy", "--to", str(other), store=source)
    assert refused.exit_code == 1
    assert "elsewhere" in refused.output and "--merge" in refused.output
    merged = cli("store", "copy", "--to", str(other), "--merge", store=source)
    assert merged.exit_code == 0, merged.output
    listed = {v["video_id"] for v in json.loads(cli("videos", "list", "--json", store=other).stdout)}
    assert listed == {"elsewhere", "reds", "greens", "mixed"}
    same = cli("store", "copy", "--to", str(source), store=source)
    assert same.exit_code == 1 and "same store" in same.output


@pytest.mark.slow
def test_copy_to_qdrant_client_and_back_reproduces_vectors_and_answers(tmp_path, source, tiny_clip_dir):
    """qdrant-client's local mode stands in for a server here (the same client code; a server test follows)."""
    with EdgeStore(source) as src, ClientStore(path=str(tmp_path / "client")) as mid:
        there = copy_library(src, mid)
        assert (there.copied, there.points) == (3, 18)
        assert describe(mid).backend == "qdrant-local" and describe(mid).points == 18
        with EdgeStore(tmp_path / "back") as back:
            assert copy_library(mid, back).points == 18
            for video in src.list_videos():
                for hit in src.frame_hits(video.video_id):
                    np.testing.assert_allclose(
                        back.frame_vector(video.video_id, hit.frame), src.frame_vector(video.video_id, hit.frame), atol=1e-6
                    )
    assert answers(tiny_clip_dir, "--store", str(tmp_path / "back")) == answers(tiny_clip_dir, "--store", str(source))


def test_verification_notices_a_vector_that_differs(tmp_path, source):
    with EdgeStore(source) as src, EdgeStore(tmp_path / "target") as dst:
        copy_library(src, dst)
        point = next(iter(dst.video_points("reds")))
        dst._upsert("frames", [point.id], [[-x for x in point.vector or ()]], [point.payload])  # damaged in place
        records = {r.video_id: r for r in src.list_videos()}
        with pytest.raises(StoreError, match="vector differs"):
            verify_copy(src, dst, records, {"reds": [next(p for p in src.video_points("reds") if p.id == point.id)]}, 100)


def test_copy_refuses_into_a_store_of_another_model(tmp_path, source, colour_results):
    other = tmp_path / "other"
    assert (
        cli("ingest", "results", str(colour_results("x", [("red", 1)])), "--model", "clip/another-model", store=other).exit_code
        == 0
    )
    with EdgeStore(source) as src, EdgeStore(other) as dst, pytest.raises(TargetNotEmpty):
        copy_library(src, dst)
    result = cli("store", "copy", "--to", str(other), "--merge", store=source)
    assert result.exit_code == 1 and "clip/another-model" in result.output


def test_store_info_describes_an_edge_store(tmp_path, source):
    result = cli("store", "info", "--json", store=source)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert (info["backend"], info["collection"], info["model"], info["points"], info["videos"]) == (
        "qdrant-edge",
        "frames",
        MODEL,
        18,
        3,
    )
    assert info["index"]["payload_indexes"] == ["ingest_run", "timestamp", "video_id"] and info["cluster"] is None
    text = cli("store", "info", store=source).output
    assert "qdrant-edge" in text and "18" in text
    empty = json.loads(cli("store", "info", "--json", store=empty_collection(tmp_path / "empty")).stdout)
    assert (empty["model"], empty["points"], empty["index"]) == (None, 0, None)


@pytest.mark.slow
def test_copy_to_a_qdrant_server_and_its_layout(tmp_path, source, tiny_clip_dir, qdrant_server_url, monkeypatch):
    monkeypatch.setenv("FRAMESEARCH_SHARDS", "3")
    collection = f"copy{abs(hash(str(tmp_path))) % 10**6}"
    result = cli("store", "copy", "--to", qdrant_server_url, "--to-collection", collection, store=source)
    assert result.exit_code == 0, result.output
    server = ["--qdrant-url", qdrant_server_url, "--collection", collection]
    assert answers(tiny_clip_dir, *server) == answers(tiny_clip_dir, "--store", str(source))
    info = json.loads(runner.invoke(app, [*server, "store", "info", "--json"]).stdout)
    assert info["backend"] == "qdrant-server" and info["cluster"]["shards"] == 3 and info["points"] == 18
    home = cli(
        "store",
        "copy",
        "--from",
        qdrant_server_url,
        "--to",
        str(tmp_path / "home"),
        "--collection",
        collection,
        "--to-collection",
        "frames",
    )
    assert home.exit_code == 0, home.output
