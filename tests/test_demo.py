"""The first run that works anywhere: `framesearch demo` renders, indexes and searches a video of coloured shapes with
the bundled model, offline, from any folder; the README's first command is it; `serve` then shows the video."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def offline_env(home: Path) -> dict[str, str]:
    """A newcomer's environment with no network at all: any HTTP(S) attempt goes to a closed port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRAMESEARCH_", "HF_", "ROBOFLOW_", "API_URL"))}
    nowhere = "http://127.0.0.1:9"
    return {
        **env,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "HF_HUB_OFFLINE": "1",
        "HTTP_PROXY": nowhere,
        "HTTPS_PROXY": nowhere,
        "http_proxy": nowhere,
        "https_proxy": nowhere,
        "NO_PROXY": "",
    }


def test_the_readmes_first_command_is_install_and_demo():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[0].endswith("framesearch demo") and "pip install" in commands[0]
    assert "shared" not in commands[0]
    assert commands[1] == "bash .ci/run"  # the second: the tests, as CI runs them
    assert "framesearch model pull" in readme and "framesearch ingest local" in readme  # then the real path


def test_the_demo_answers_its_queries_and_serve_shows_the_video(tmp_path):
    store = tmp_path / "store"
    result = runner.invoke(app, ["--store", str(store), "demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "framesearch/tiny-shapes-clip" and report["frames"] == 30
    assert [a["right"] for a in report["answers"]] == [True] * 5, report["answers"]
    assert Path(report["path"]).is_file() and Path(report["path"]).is_relative_to(store)

    again = runner.invoke(app, ["--store", str(store), "demo"])  # a second run re-indexes the same video
    assert again.exit_code == 0 and "5 of 5 example queries found their scene" in again.stdout
    assert (
        f"collection 'demo' of {store}" in again.stdout
        and f"`framesearch serve --store {store} --collection demo`" in again.stdout
    )
    found = runner.invoke(app, ["--store", str(store), "search", "a yellow star", "--json", "--collection", "demo"])
    assert json.loads(found.stdout)["results"][0]["start"] >= 9.0

    listed = runner.invoke(app, ["--store", str(store), "collections", "list", "--json"])
    assert [c["collection"] for c in json.loads(listed.stdout)] == ["demo"]  # nothing in the user's default collection
    mine = runner.invoke(app, ["--store", str(store), "search", "a yellow star"])
    assert mine.exit_code == 1 and "no collection 'frames'" in mine.stderr and "collections there: demo" in mine.stderr

    from framesearch.service.app import create_app

    with TestClient(create_app(Settings(store=store, collection="demo"))) as client:
        videos = client.get("/videos").json()["videos"]
        assert [v["video_id"] for v in videos] == ["shapes-demo.mp4"]
        hits = client.get("/search", params={"q": "a red circle"}).json()["results"]
        assert hits and 3.0 <= hits[0]["peak_time"] <= 6.0
        assert client.get("/videos/shapes-demo.mp4/file").status_code == 200
        assert client.get("/videos/shapes-demo.mp4/thumbnail", params={"t": hits[0]["peak_time"]}).status_code == 200


def test_the_demo_refuses_a_collection_of_another_model(tmp_path, tiny_clip_dir, sample_video):
    store = str(tmp_path / "store")
    args = ["--store", store, "ingest", "local", str(sample_video), "--model", str(tiny_clip_dir), "--collection", "demo"]
    ingest = runner.invoke(app, args)
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(app, ["--store", store, "demo"])
    assert result.exit_code == 1 and "--collection" in result.stderr


def test_the_demo_keeps_out_of_the_users_collection_whatever_the_environment_says(tmp_path, tiny_clip_dir, sample_video):
    store = str(tmp_path / "store")
    mine = runner.invoke(app, ["--store", store, "ingest", "local", str(sample_video), "--model", str(tiny_clip_dir)])
    assert mine.exit_code == 0, mine.output
    demo = runner.invoke(app, ["--store", store, "--collection", "frames", "demo"], env={"FRAMESEARCH_COLLECTION": "frames"})
    assert demo.exit_code == 0, demo.output  # another model's collection is not the demo's: no clash
    videos = runner.invoke(app, ["--store", store, "videos", "list", "--json"])
    assert [v["video_id"] for v in json.loads(videos.stdout)] == ["bikes.mp4"]


@pytest.mark.slow
def test_the_demo_runs_from_the_installed_wheel_in_an_empty_folder_offline(tmp_path):
    """What a fresh clone's `pip install . && framesearch demo` runs: the wheel's files, no ../shared, no network."""
    built = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(built), str(ROOT)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    site = tmp_path / "site"
    zipfile.ZipFile(next(built.glob("framesearch-*.whl"))).extractall(site)
    home = tmp_path / "newcomer"
    home.mkdir()
    env = {**offline_env(home), "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import framesearch; print(framesearch.__file__)"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    run = subprocess.run(
        [sys.executable, "-m", "framesearch", "demo"], env=env, cwd=home, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 of 5 example queries found their scene" in run.stdout
    library = home / ".local" / "share" / "framesearch" / "library"  # the user's library, wherever the command ran
    assert (library / "cache" / "demo" / "shapes-demo.mp4").is_file() and (library / "demo" / "collection.json").is_file()
    assert not (home / "data").exists() and not (library / "frames").exists()  # the demo is not the user's collection
