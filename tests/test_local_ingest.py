"""Local inference and bulk indexing through the real CLI, on rendered videos (MP4 and Matroska) and a broken file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.ingest.results import load_results_file
from tests.helpers.synthetic_video import write_colour_video

runner = CliRunner()

# name -> (colour runs, fps, size): bikes.mp4 has the frame rate and size of the shared media's (25 fps, 640x272, 10 s)
VIDEOS = {
    "bikes.mp4": ([("black", 4.0), ("red", 6.0)], 25, (640, 272)),
    "chaplin.mp4": ([("white", 3.0)], 10, (320, 240)),
    "asl-thanks.mkv": ([("orange", 1.7)], 10, (320, 240)),
    "flower.mp4": ([("green", 2.0)], 10, (320, 240)),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    for name, (runs, fps, size) in VIDEOS.items():
        write_colour_video(folder / name, runs, fps=fps, size=size)
    return folder


@pytest.fixture
def bikes(media) -> Path:
    return media / "bikes.mp4"


@pytest.fixture
def library(tmp_path, media):
    root = tmp_path / "library"
    (root / "films").mkdir(parents=True)
    shutil.copy(media / "bikes.mp4", root / "bikes.mp4")
    shutil.copy(media / "chaplin.mp4", root / "films" / "chaplin.mp4")
    shutil.copy(media / "asl-thanks.mkv", root / "films" / "asl-thanks.mkv")
    (root / "films" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    (root / "notes.txt").write_text("not a video")
    return root


def invoke(tmp_path, *args):
    return runner.invoke(app, ["--store", str(tmp_path / "store"), *args])


def listed(tmp_path) -> dict[str, dict]:
    return {v["video_id"]: v for v in json.loads(invoke(tmp_path, "videos", "list", "--json").output)}


def test_library_indexes_every_video_reports_the_broken_one_and_skips_on_rerun(tmp_path, library, media, tiny_clip_dir):
    model = str(tiny_clip_dir)
    first = invoke(tmp_path, "ingest", "local", str(library), "--recursive", "--fps", "2", "--model", model, "--json")
    assert first.exit_code == 1, first.output
    outcomes = {o["video_id"]: o for o in json.loads(first.output)}
    assert {k: o["status"] for k, o in outcomes.items()} == {
        "bikes.mp4": "indexed",
        "films/asl-thanks.mkv": "indexed",
        "films/broken.mp4": "failed",
        "films/chaplin.mp4": "indexed",
    }
    assert "broken.mp4" in outcomes["films/broken.mp4"]["reason"]
    assert outcomes["bikes.mp4"]["frames"] == 20
    videos = listed(tmp_path)
    assert set(videos) == {"bikes.mp4", "films/asl-thanks.mkv", "films/chaplin.mp4"}
    assert videos["bikes.mp4"]["source"] == "local" and videos["bikes.mp4"]["width"] == 640
    assert videos["bikes.mp4"]["path"] == str((library / "bikes.mp4").resolve())

    (library / "films" / "broken.mp4").unlink()
    shutil.copy(media / "flower.mp4", library / "films" / "flower.mp4")
    again = invoke(tmp_path, "ingest", "local", str(library), "-r", "--fps", "2", "--json")
    assert again.exit_code == 0, again.output
    statuses = {o["video_id"]: o["status"] for o in json.loads(again.output)}
    assert statuses == {
        "bikes.mp4": "skipped",
        "films/asl-thanks.mkv": "skipped",
        "films/chaplin.mp4": "skipped",
        "films/flower.mp4": "indexed",
    }


@pytest.mark.slow
def test_changed_fps_reindexes_and_without_recursive_only_the_top_folder(tmp_path, library, tiny_clip_dir):
    top = invoke(tmp_path, "ingest", "local", str(library), "--fps", "1", "--model", str(tiny_clip_dir), "--json")
    assert [o["video_id"] for o in json.loads(top.output)] == ["bikes.mp4"]
    redo = invoke(tmp_path, "ingest", "local", str(library / "bikes.mp4"), "--video-id", "bikes.mp4", "--fps", "2", "--json")
    assert json.loads(redo.output)[0]["status"] == "indexed"
    assert listed(tmp_path)["bikes.mp4"]["frames"] == 20


@pytest.mark.slow
def test_infer_writes_the_roboflow_format_and_it_ingests_identically(tmp_path, tiny_clip_dir, bikes):
    out = tmp_path / "bikes.json"
    video = bikes
    result = invoke(tmp_path, "infer", str(video), "--fps", "3", "-o", str(out), "--model", str(tiny_clip_dir))
    assert result.exit_code == 0, result.output
    parsed = load_results_file(out)
    assert len(parsed.frames) == 30 and parsed.frames[:4] == [0, 9, 17, 25]
    assert parsed.timestamps[:4] == [0.0, 0.36, 0.68, 1.0]
    ingested = invoke(tmp_path, "ingest", "results", str(out))  # the file names its model, video and fps
    assert ingested.exit_code == 0, ingested.output
    model = str(tiny_clip_dir)
    local = invoke(tmp_path, "ingest", "local", str(video), "--video-id", "local-bikes", "--fps", "3", "--model", model)
    assert local.exit_code == 0, local.output
    videos = listed(tmp_path)
    assert videos["bikes.mp4"]["frames"] == videos["local-bikes"]["frames"] == 30
    assert videos["bikes.mp4"]["model"] == videos["local-bikes"]["model"] == "tests/tiny-colour-clip"


def test_local_ingest_errors(tmp_path, tiny_clip_dir, bikes):
    missing = invoke(tmp_path, "ingest", "local", str(tmp_path / "nope.mp4"), "--model", str(tiny_clip_dir))
    assert missing.exit_code == 1 and "nope.mp4" in missing.output
    no_model = invoke(tmp_path, "ingest", "local", str(bikes))  # the first ingest takes the default model, and says so
    assert no_model.exit_code == 0 and "tiny-shapes-clip" in no_model.output and "--model" in no_model.output
    bad_fps = invoke(tmp_path, "ingest", "local", str(bikes), "--fps", "0", "--model", str(tiny_clip_dir))
    assert bad_fps.exit_code == 1 and "fps" in bad_fps.output


@pytest.mark.slow
def test_an_alias_of_the_collections_model_can_add_local_videos_and_query(tmp_path, colour_results, bikes):
    from tests.helpers.tiny_clip import build_tiny_clip

    alias = build_tiny_clip(tmp_path / "vit", name="ViT-B-16/openai", aliases=("clip/ViT-B-16",))
    results = colour_results("from-roboflow", [("red", 1)])
    # Roboflow's vectors are 512-d; the CLI refuses these 8-d stand-ins under that name, so the core labels them
    from framesearch.ingest.index import ingest_results
    from framesearch.ingest.results import load_results_file
    from framesearch.store.edge import EdgeStore

    with EdgeStore(tmp_path / "store") as store:
        ingest_results(store, load_results_file(results), "from-roboflow", model="clip/ViT-B-16")
    local = invoke(tmp_path, "ingest", "local", str(bikes), "--fps", "1", "--model", str(alias))
    assert local.exit_code == 0, local.output
    assert {v["model"] for v in listed(tmp_path).values()} == {"clip/ViT-B-16"}
    found = invoke(tmp_path, "--model", str(alias), "search", "red", "--json", "--threshold", "0.9")
    assert json.loads(found.output)["results"][0]["video_id"] == "from-roboflow"
