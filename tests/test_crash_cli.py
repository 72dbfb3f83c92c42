"""Kill tests of the CLI's ingests: SIGKILL at chosen moments of `ingest results` and `ingest local DIR`.

After every kill the store opens, lists and searches exactly the videos committed before the kill,
`store check` reports the unfinished run (and is clean after `--repair`, or after any open, which rolls
it back), and re-running the same command converges on the library of a run that was never killed.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.crash import check, invoke, invoke_json, library, results_file, run_cli, searchable

slow = pytest.mark.slow  # every test but one case below (the quick loop's test of a crash, `store check` and `--repair`)

BASE = "framesearch.store.base:QdrantStore"
DIM = 8
SIZES = {"a": 300, "b": 260, "c": 280}  # frames per results file: two write batches each (of 256)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    files = [results_file(folder, name, n, seed=i) for i, (name, n) in enumerate(SIZES.items())]
    query = folder / "query.json"
    query.write_text(json.dumps([1.0] * DIM))
    return files, query


def assert_consistent(store, query, expected: dict[str, int]) -> None:
    """Lists and searches exactly `expected`, and a store check finds nothing."""
    assert library(store) == expected
    assert dict(searchable(store, query)) == {k: v for k, v in expected.items() if v}
    code, report = check(store)
    assert code == 0 and report["ok"], report
    assert report["stored_points"] == report["searchable_frames"] == sum(expected.values())


def moment(name: str, crash: str, committed: list[str], quick: bool = False):
    return pytest.param(name, crash, committed, id=name, marks=() if quick else slow)


RESULTS_MOMENTS = [
    moment("store creation: shards built aside", "framesearch.store.edge:EdgeStore._build_shards:1", []),
    moment("store creation: shards in place, no model file", "framesearch.store.edge_files:write_json_atomic:1:before", []),
    moment("first video, after one batch", f"{BASE}.upsert_frames:1", []),
    moment("second video committed, not yet finished", f"{BASE}.commit_run:2", ["a", "b"]),
    moment("third video, after one batch", f"{BASE}.upsert_frames:5", ["a", "b"], quick=True),
]


@pytest.mark.parametrize("moment, crash, committed", RESULTS_MOMENTS)
def test_killed_results_ingest_keeps_what_was_committed_and_converges(tmp_path, inputs, moment, crash, committed):
    files, query = inputs
    store = tmp_path / "store"
    killed = run_cli(store, "ingest", "results", *map(str, files), crash=crash)
    assert killed.returncode == -9, killed.stderr
    before = check(store)[1]
    assert {p["kind"] for p in before["problems"]} <= {"unfinished_run"}
    if committed and crash.endswith("upsert_frames:5"):
        assert [p["video_id"] for p in before["problems"]] == ["c"]  # the hidden half-written video
    code, repaired = check(store, repair=True)
    assert code == 0 and repaired["ok"], repaired
    assert_consistent(store, query, {k: SIZES[k] for k in committed})

    rerun = invoke(store, "ingest", "results", *map(str, files))
    assert rerun.exit_code == 0, rerun.output
    assert_consistent(store, query, SIZES)


@slow
def test_an_open_after_a_kill_rolls_the_unfinished_run_back_without_a_repair(tmp_path, inputs):
    files, query = inputs
    store = tmp_path / "store"
    killed = run_cli(store, "ingest", "results", *map(str, files), crash=f"{BASE}.upsert_frames:3")
    assert killed.returncode == -9
    assert library(store) == {"a": 300}  # this open rolled back the half-written "b"
    assert_consistent(store, query, {"a": 300})


@slow
@pytest.mark.parametrize("crash, visible", [(f"{BASE}.upsert_frames:1", "old"), (f"{BASE}.commit_run:1", "new")])
def test_a_killed_replace_shows_one_whole_version(tmp_path, inputs, crash, visible):
    """A re-ingest killed before its commit leaves the old version whole; after its commit, the new one."""
    files, query = inputs
    store = tmp_path / "store"
    assert invoke(store, "ingest", "results", str(files[0])).exit_code == 0
    new = results_file(tmp_path, "a", 280, step=7, seed=9)  # other frames, other vectors
    killed = run_cli(store, "ingest", "results", str(new), crash=crash)
    assert killed.returncode == -9
    frames = {"old": 300, "new": 280}[visible]
    step = {"old": 12, "new": 7}[visible]
    answer = invoke_json(store, "search", "--vector-file", str(query), "--mode", "frames", "--limit", "1000", "--threshold", "-1")
    assert sorted(r["frame"] for r in answer["results"]) == [i * step for i in range(frames)]
    assert library(store) == {"a": frames}
    assert invoke(store, "ingest", "results", str(new)).exit_code == 0
    assert_consistent(store, query, {"a": 280})


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    from tests.helpers.synthetic_video import write_shapes_video

    folder = tmp_path_factory.mktemp("videos")
    write_shapes_video(folder / "clip1.mp4", [("square", "white", "black", 2.5), ("circle", "red", "white", 2.5)])
    write_shapes_video(folder / "clip2.mp4", [("triangle", "green", "black", 5.0)])
    return folder


@pytest.fixture(scope="module")
def clean_local(tmp_path_factory, video_folder, tiny_clip_dir):
    """The library a never-killed `ingest local` makes."""
    store = tmp_path_factory.mktemp("clean") / "store"
    done = invoke(store, "ingest", "local", str(video_folder), "--fps", "10", "--model", str(tiny_clip_dir))
    assert done.exit_code == 0, done.output
    made = library(store)
    assert set(made) == {"clip1.mp4", "clip2.mp4"} and min(made.values()) > 32  # two batches per video
    return made


LOCAL_MOMENTS = [
    ("first video, after one batch", f"{BASE}.upsert_frames:1", []),
    ("first video committed, not yet finished", f"{BASE}.commit_run:1", ["clip1.mp4"]),
    ("second video, after one batch", f"{BASE}.upsert_frames:3", ["clip1.mp4"]),
]


@slow
@pytest.mark.parametrize("moment, crash, committed", LOCAL_MOMENTS, ids=[m[0] for m in LOCAL_MOMENTS])
def test_killed_local_folder_ingest_keeps_what_was_committed_and_converges(
    tmp_path, video_folder, tiny_clip_dir, clean_local, moment, crash, committed
):
    store = tmp_path / "store"
    killed = run_cli(store, "ingest", "local", str(video_folder), "--fps", "10", "--model", str(tiny_clip_dir), crash=crash)
    assert killed.returncode == -9, killed.stderr
    code, report = check(store)
    assert code == 1 and {p["kind"] for p in report["problems"]} == {"unfinished_run"}
    assert check(store, repair=True)[0] == 0
    assert library(store) == {k: clean_local[k] for k in committed}
    query = tmp_path / "query.json"
    query.write_text(json.dumps([1.0] * 8))
    assert dict(searchable(store, query)) == {k: clean_local[k] for k in committed}

    rerun = invoke_json(store, "ingest", "local", str(video_folder), "--fps", "10", "--model", str(tiny_clip_dir))
    assert {o["video_id"]: o["status"] for o in rerun} == {k: "skipped" if k in committed else "indexed" for k in clean_local}
    assert_consistent(store, query, clean_local)
