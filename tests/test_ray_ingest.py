"""`ingest local --ray`: the same library and the same answers as one process, on a local Ray instance (2 CPUs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.errors import InvalidInput
from framesearch.ingest.ray_library import pool_for, window
from framesearch.ingest.requests import RayIngest
from framesearch.store.edge import EdgeStore
from tests.helpers.keyframes import with_keyframes
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
MODEL = "tiny-shapes-clip"
QUERIES = ["a red circle", "a green triangle", "a white square", "a blue star"]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two rendered videos with a keyframe a second (so they cut into ranges), one in a sub-folder; a broken file."""
    root = tmp_path_factory.mktemp("library")
    (root / "more").mkdir()
    plain = tmp_path_factory.mktemp("plain")
    scenes = {
        "shapes.mp4": [("square", "white", "black", 3), ("circle", "red", "white", 3), ("triangle", "green", "black", 2)],
        "more/stars.mp4": [("star", "blue", "white", 3), ("circle", "red", "black", 2)],
    }
    for name, segments in scenes.items():
        with_keyframes(write_shapes_video(plain / Path(name).name, segments), root / name)
    (root / "more" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    (root / "notes.txt").write_text("not a video")
    return root


def cli(store: Path, *args: str):
    return runner.invoke(app, ["--store", str(store), *args])


def ingest(store: Path, library: Path, *extra: str) -> list[dict]:
    result = cli(store, "ingest", "local", str(library), "--recursive", "--fps", "3", "--model", MODEL, "--json", *extra)
    assert result.exit_code == 1, result.output  # the broken file fails, the rest is indexed
    return json.loads(result.stdout)


def library_view(store: Path) -> dict:
    """Everything a user can see of a library: records, every stored frame with its vector, and search answers."""
    videos = json.loads(cli(store, "videos", "list", "--json").stdout)
    answers = {q: json.loads(cli(store, "search", q, "--json", "--limit", "50").stdout)["results"] for q in QUERIES}
    with EdgeStore(store) as st:
        points = {  # by video and frame: point ids and run ids differ from one ingest run to the next
            (p.payload["video_id"], p.payload["frame"]): (
                {k: v for k, v in p.payload.items() if k != "ingest_run"},
                np.asarray(p.vector),
            )
            for v in st.list_videos()
            for p in st.video_points(v.video_id)
        }
    for v in videos:
        v.pop("indexed_at")
        v.pop("ingest_run", None)
    return {"videos": videos, "answers": answers, "points": points}


def assert_same_library(one: dict, other: dict) -> None:
    assert other["videos"] == one["videos"]
    assert other["points"].keys() == one["points"].keys()
    for pid, (payload, vector) in one["points"].items():
        assert other["points"][pid][0] == payload
        np.testing.assert_allclose(other["points"][pid][1], vector, atol=1e-6)
    for query, segments in one["answers"].items():
        got = other["answers"][query]
        assert [(s["video_id"], s["start"], s["end"], s["peak_frame"]) for s in got] == [
            (s["video_id"], s["start"], s["end"], s["peak_frame"]) for s in segments
        ], query
        assert [s["score"] for s in got] == pytest.approx([s["score"] for s in segments], abs=1e-5)


@pytest.mark.slow
def test_ray_ingest_indexes_the_same_library_with_the_same_answers_and_resumes(tmp_path, library, ray_local):
    one = ingest(tmp_path / "one", library)
    on_ray = ingest(tmp_path / "ray", library, "--ray", "local", "--ray-range", "1.5")
    assert on_ray == one  # same outcomes, in the same order, with the same reasons
    assert {o["video_id"]: o["status"] for o in one} == {
        "more/broken.mp4": "failed",
        "more/stars.mp4": "indexed",
        "shapes.mp4": "indexed",
    }
    expected = library_view(tmp_path / "one")
    assert len(expected["points"]) == 8 * 3 + 5 * 3 and expected["answers"]["a red circle"]
    assert_same_library(expected, library_view(tmp_path / "ray"))

    again = ingest(tmp_path / "ray", library, "--ray", "local")
    assert {o["video_id"]: o["status"] for o in again} == {
        "more/broken.mp4": "failed",
        "more/stars.mp4": "skipped",
        "shapes.mp4": "skipped",
    }


@pytest.mark.slow
def test_an_interrupted_ray_ingest_keeps_only_whole_videos_and_a_rerun_completes_it(tmp_path, library, ray_local):
    from framesearch.embedders.resolve import image_embedder
    from framesearch.ingest.library import library_items
    from framesearch.ingest.ray_library import ingest_library_ray
    from framesearch.settings import Settings

    settings = Settings(store=tmp_path / "ray", model=MODEL)
    items = [i for i in library_items([library], recursive=True) if i.video_id != "more/broken.mp4"]

    def progress(done: int, total: int | None) -> None:
        if done > 15:  # the first range of the second video: the first one (15 frames) is written, this one is not
            raise KeyboardInterrupt

    with EdgeStore(settings.store) as st, pytest.raises(KeyboardInterrupt):
        ingest_library_ray(
            st,
            items,
            embedder=image_embedder(settings, None),
            settings=settings,
            fps=3.0,
            options=RayIngest(range_seconds=1.0),
            progress=progress,
        )
    with EdgeStore(settings.store) as st:
        assert [v.video_id for v in st.list_videos()] == ["more/stars.mp4"]
        assert st.get_video("more/stars.mp4").frames == st.frame_count("more/stars.mp4") == 15

    resumed = ingest(tmp_path / "ray", library, "--ray", "local")
    assert {o["video_id"]: o["status"] for o in resumed}["more/stars.mp4"] == "skipped"
    ingest(tmp_path / "one", library)
    assert_same_library(library_view(tmp_path / "one"), library_view(tmp_path / "ray"))


def test_without_ray_installed_the_cli_says_how_to_install_it(tmp_path, library, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = cli(tmp_path / "s", "ingest", "local", str(library / "shapes.mp4"), "--model", MODEL, "--ray", "local")
    assert result.exit_code == 1
    assert "pip install 'framesearch[ray]'" in result.output


def test_a_bad_ray_address_or_pool_is_refused_before_anything_starts(tmp_path, library):
    bad = cli(tmp_path / "s", "ingest", "local", str(library), "--model", MODEL, "--ray", "not an address!")
    assert bad.exit_code == 1 and "address" in bad.output
    few = cli(tmp_path / "s", "ingest", "local", str(library), "--model", MODEL, "--ray", "local", "--ray-actors", "0")
    assert few.exit_code == 1 and "actors" in few.output


def test_the_actor_pool_is_sized_from_the_cluster_and_leaves_a_cpu_for_decoding():
    assert pool_for({"CPU": 2.0}, RayIngest(), remote=False).actors == 1
    assert pool_for({"CPU": 16.0}, RayIngest(), remote=False).actors == 8
    gpu = pool_for({"CPU": 16.0, "GPU": 2.0}, RayIngest(gpus_per_actor=0.25), remote=False)
    assert (gpu.actors, gpu.gpus, gpu.concurrency) == (8, 0.25, 1)
    remote = pool_for({"CPU": 4.0}, RayIngest(actors=8, requests_per_actor=4), remote=True)
    assert (remote.actors, remote.concurrency) == (8, 4) and remote.window == 2 * 8 * 4 + 2
    with pytest.raises(InvalidInput, match="leave none for decoding"):
        pool_for({"CPU": 2.0}, RayIngest(actors=2), remote=False)
    with pytest.raises(InvalidInput, match="GPU"):
        pool_for({"CPU": 8.0}, RayIngest(gpus_per_actor=0.5), remote=False)


def test_the_window_keeps_a_bounded_number_of_items_in_flight():
    submitted: list[int] = []
    in_flight_seen = []
    for consumed, (item, ref) in enumerate(window(range(20), lambda x: submitted.append(x) or x * 10, depth=3), start=1):
        assert ref == item * 10
        in_flight_seen.append(len(submitted) - consumed)
    assert submitted == list(range(20))
    assert max(in_flight_seen) <= 3 and in_flight_seen[0] == 3


@pytest.mark.slow
def test_ray_ingest_with_roboflow_inference_matches_one_process(tmp_path, library, ray_local, inference_standin, monkeypatch):
    """Frames go from the actors to a Roboflow Inference server (the local stand-in), several requests at a time."""
    from framesearch.embedders import roboflow
    from tests.conftest import ROBOFLOW_TEST_KEY

    if not hasattr(getattr(roboflow, "RoboflowClip", None), "embed_images"):
        pytest.skip("needs the Roboflow image embedder (embedders/roboflow.py RoboflowClip.embed_images)")
    from tests.helpers.inference_standin import TEST_CLIP_VERSION

    monkeypatch.setenv("ROBOFLOW_API_KEY", ROBOFLOW_TEST_KEY)
    monkeypatch.setenv("FRAMESEARCH_ROBOFLOW_INFERENCE_URL", inference_standin.url)
    monkeypatch.setenv("FRAMESEARCH_ROBOFLOW_CLIP_VERSION", TEST_CLIP_VERSION)

    def run(store: Path, *extra: str) -> list[dict]:
        result = cli(store, "ingest", "local", str(library), "-r", "--fps", "2", "--model", "roboflow", "--json", *extra)
        assert result.exit_code == 1, result.output
        return json.loads(result.stdout)

    one = run(tmp_path / "one")
    calls = len(inference_standin.calls)
    assert run(tmp_path / "ray", "--ray", "local", "--ray-range", "2") == one
    assert len(inference_standin.calls) > calls  # the actors asked the server
    for store in ("one", "ray"):
        videos = json.loads(cli(tmp_path / store, "videos", "list", "--json").stdout)
        assert {v["model"] for v in videos} == {f"clip/{TEST_CLIP_VERSION}"}
    with EdgeStore(tmp_path / "one") as a, EdgeStore(tmp_path / "ray") as b:
        for video in a.list_videos():
            for hit in a.frame_hits(video.video_id):
                np.testing.assert_allclose(
                    b.frame_vector(video.video_id, hit.frame), a.frame_vector(video.video_id, hit.frame), atol=1e-5
                )
