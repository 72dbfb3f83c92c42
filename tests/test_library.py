"""One library per user: where it lives (the platform's data folder, `FRAMESEARCH_STORE`/`--store` overriding it),
reads that never create a store or a collection, `collections list|drop`, the first ingest's default model, and one
wording of the index state across ingest, `store info` and `/healthz` (through the CLI, a subprocess and the app)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.settings import Settings
from tests.conftest import empty_collection, results_json

runner = CliRunner()


def framesearch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command as a user runs it: another process, in folder `cwd`, its output piped."""
    return subprocess.run(
        [sys.executable, "-m", "framesearch", *args], cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


def results_file(folder: Path, name: str = "clip") -> Path:
    vectors = [[1.0, 0.5, 0, 0, 0, 0, 0, 0.25]] * 4
    path = folder / f"{name}.json"
    path.write_text(json.dumps(results_json([0, 12, 24, 36], [0, 0.5, 1, 1.5], vectors)))
    return path


def test_the_default_library_is_the_users_data_folder_whatever_the_current_folder(tmp_path, own_data_dir):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    added = framesearch(here, "ingest", "results", str(results_file(tmp_path)), "--model", "clip/probe")
    assert added.returncode == 0, added.stderr
    listed = framesearch(there, "videos", "list", "--json")
    assert listed.returncode == 0 and [v["video_id"] for v in json.loads(listed.stdout)] == ["clip"]
    info = json.loads(framesearch(there, "store", "info", "--json").stdout)
    assert info["location"] == str(own_data_dir) and Path(info["location"]).is_absolute()
    assert own_data_dir.parent.name == "framesearch" and (own_data_dir / "frames" / "collection.json").is_file()
    assert not (here / "data").exists() and not (there / "data").exists()


def test_a_store_given_by_a_relative_path_is_named_by_its_absolute_path(tmp_path, monkeypatch, own_data_dir):
    monkeypatch.chdir(tmp_path)
    missing = runner.invoke(app, ["--store", "lib", "videos", "list"])
    assert missing.exit_code == 1 and f"no library at {tmp_path / 'lib'} yet" in missing.stderr
    assert "`framesearch ingest local DIR --recursive` creates it" in missing.stderr
    assert (
        runner.invoke(app, ["--store", "lib", "ingest", "results", str(results_file(tmp_path)), "--model", "clip/p"]).exit_code
        == 0
    )
    info = runner.invoke(app, ["store", "info", "--store", "lib"])
    assert f"location    {tmp_path / 'lib'}" in info.stdout
    from_env = runner.invoke(app, ["store", "info", "--json"], env={"FRAMESEARCH_STORE": "lib"})
    assert json.loads(from_env.stdout)["location"] == str(tmp_path / "lib")
    assert not own_data_dir.exists()  # the user's library was never touched


READS = [
    ["videos", "list"],
    ["store", "info"],
    ["store", "check"],
    ["search", "--vector-file", "VECTOR"],
    ["search", "--vector-file", "VECTOR", "--format", "csv"],
    ["clip", "clip", "-o", "OUT"],
    ["collections", "list"],
]


@pytest.mark.parametrize("command", READS, ids=lambda c: " ".join(c[:2]))
def test_reads_never_create_a_store_or_a_collection(command, tmp_path):
    vector = tmp_path / "q.json"
    vector.write_text(json.dumps([1.0, 0.5, 0, 0, 0, 0, 0, 0.25]))
    args = [str(vector) if a == "VECTOR" else str(tmp_path / "c.mp4") if a == "OUT" else a for a in command]
    store = tmp_path / "store"
    missing = runner.invoke(app, ["--store", str(store), *args])
    assert missing.exit_code == 1 and f"error: there is no library at {store} yet" in missing.stderr
    assert not store.exists()
    if command[0] == "collections":
        return
    assert (
        runner.invoke(
            app, ["--store", str(store), "ingest", "results", str(results_file(tmp_path)), "--model", "clip/p"]
        ).exit_code
        == 0
    )
    typo = runner.invoke(app, ["--store", str(store), "--collection", "frmaes", *args])
    assert typo.exit_code == 1, typo.output
    assert f"no collection 'frmaes' in {store} (collections there: frames)" in typo.stderr
    assert not (store / "frmaes").exists()


def test_collections_are_listed_and_dropped_only_when_confirmed(tmp_path):
    store = str(tmp_path / "store")
    for name in ("frames", "videos"):
        args = ["--store", store, "--collection", name, "ingest", "results", str(results_file(tmp_path)), "--model", "clip/p"]
        assert runner.invoke(app, args).exit_code == 0
    empty_collection(Path(store), "new")  # opened by a service, nothing indexed yet
    listed = json.loads(runner.invoke(app, ["--store", store, "collections", "list", "--json"]).stdout)
    assert [(c["collection"], c["model"], c["videos"]) for c in listed] == [
        ("frames", "clip/p", 1),
        ("new", None, 0),
        ("videos", "clip/p", 1),
    ]
    table = runner.invoke(app, ["--store", store, "collections", "list"]).stdout
    assert store in table and "none yet (empty)" in table

    kept = runner.invoke(app, ["--store", store, "collections", "drop", "videos"], input="n\n")
    assert kept.exit_code == 1 and "nothing deleted" in kept.stderr and (Path(store) / "videos").is_dir()
    asked = runner.invoke(app, ["--store", store, "collections", "drop", "videos"], input="y\n")
    assert asked.exit_code == 0 and f"delete collection 'videos' in {store}" in asked.stdout
    assert not (Path(store) / "videos").exists()
    assert runner.invoke(app, ["--store", store, "collections", "drop", "new", "--yes"]).exit_code == 0
    unknown = runner.invoke(app, ["--store", store, "collections", "drop", "videos", "--yes"])
    assert unknown.exit_code == 1 and "(collections there: frames)" in unknown.stderr
    assert [
        c["collection"] for c in json.loads(runner.invoke(app, ["--store", store, "collections", "list", "--json"]).stdout)
    ] == ["frames"]


def test_a_collection_in_use_is_not_dropped(tmp_path):
    from framesearch.store.open import open_store

    store = empty_collection(tmp_path / "store")
    with open_store(Settings(store=store)):  # another process's lock, as a running `serve` holds it
        held = runner.invoke(app, ["--store", str(store), "collections", "drop", "frames", "--yes"])
    assert held.exit_code == 1 and "in use" in held.stderr and (store / "frames").is_dir()


def test_the_first_ingest_without_a_model_uses_the_bundled_clip_and_says_how_to_choose(tmp_path, sample_video):
    store = str(tmp_path / "store")
    first = runner.invoke(app, ["--store", store, "ingest", "local", str(sample_video), "--fps", "1"])
    assert first.exit_code == 0, first.output
    assert "note: no model named: using the bundled tiny-shapes-clip" in first.stderr
    assert "choose another with --model NAME" in first.stderr and "framesearch model pull ViT-B-16__openai" in first.stderr
    info = json.loads(runner.invoke(app, ["--store", store, "store", "info", "--json"]).stdout)
    assert info["model"] == "framesearch/tiny-shapes-clip"  # recorded: later ingests and searches use it
    found = runner.invoke(app, ["--store", store, "search", "a red circle", "--json"])
    assert found.exit_code == 0 and json.loads(found.stdout)["results"][0]["video_id"] == "bikes.mp4"


def test_the_first_ingest_uses_the_one_pulled_model(tmp_path, sample_video, tiny_clip_dir, own_models_dir):
    shutil.copytree(tiny_clip_dir, own_models_dir / "my-clip")
    store = str(tmp_path / "store")
    first = runner.invoke(app, ["--store", store, "ingest", "local", str(sample_video), "--fps", "1"])
    assert first.exit_code == 0, first.output
    assert "note: no model named: using the one pulled model, my-clip" in first.stderr
    info = json.loads(runner.invoke(app, ["--store", store, "store", "info", "--json"]).stdout)
    assert info["model"] == "tests/tiny-colour-clip"


def test_searching_an_empty_library_says_how_to_add_videos(tmp_path):
    store = empty_collection(tmp_path / "store")
    empty = runner.invoke(app, ["--store", str(store), "search", "a red circle"])
    assert empty.exit_code == 1 and "no model given" not in empty.stderr
    assert "the library is empty" in empty.stderr and "`framesearch ingest local ~/Videos --recursive`" in empty.stderr
    assert f"with --store {store} for this library" in empty.stderr


def test_ingest_store_info_and_healthz_say_the_same_index_state(tmp_path):
    store = tmp_path / "store"
    added = runner.invoke(app, ["--store", str(store), "ingest", "results", str(results_file(tmp_path)), "--model", "clip/p"])
    assert added.exit_code == 0
    said = "searched exactly: 4 frames"  # a small collection: no graph needed, every frame searched exactly
    assert f"search index: {said}" in added.stderr and "partly" not in added.output
    info = runner.invoke(app, ["--store", str(store), "store", "info"])
    assert said in info.stdout and "partly" not in info.stdout
    assert json.loads(runner.invoke(app, ["--store", str(store), "store", "info", "--json"]).stdout)["index"]["status"] == (
        "searched exactly"
    )
    from framesearch.service.app import create_app

    with TestClient(create_app(Settings(store=store))) as client:
        health = client.get("/healthz").json()
    assert health["index"].startswith(said) and health["frames"] == 4


def test_serve_names_the_library_it_serves_and_a_new_collection(tmp_path):
    from tests.helpers.server import running_service

    store = tmp_path / "store"
    empty_collection(store, "frames")
    with running_service({"FRAMESEARCH_STORE": str(store)}, tmp_path / "serve.log", args=("--collection", "demo")):
        pass
    log = (tmp_path / "serve.log").read_text()
    assert f"serving collection 'demo' of {store} (a new, empty collection; collections there: frames)" in log, log
    assert (store / "demo" / "lock").is_file()


def test_the_service_lists_the_collections_of_its_library(tmp_path):
    from framesearch.service.app import create_app

    store = empty_collection(tmp_path / "store", "frames")
    with TestClient(create_app(Settings(store=store, collection="demo"))) as client:
        answer = client.get("/collections")
    assert answer.status_code == 200 and answer.json() == {"collections": ["demo", "frames"], "current": "demo"}
