"""Roboflow Inference as the embedder of frames and text: `ingest local --model roboflow` decodes here and sends the
frames to a stand-in Inference server (real vectors of the bundled tiny CLIP under a test version id); searches
then embed their text there too, and the collection records the `clip/<version>` identity."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from tests.conftest import ROBOFLOW_TEST_KEY as KEY
from tests.helpers.inference_standin import TEST_CLIP_VERSION

runner = CliRunner()


@pytest.fixture
def env(inference_standin, tmp_path, monkeypatch):
    monkeypatch.delenv("FRAMESEARCH_ROBOFLOW_API_KEY", raising=False)
    return {
        "ROBOFLOW_API_KEY": KEY,
        "FRAMESEARCH_ROBOFLOW_INFERENCE_URL": inference_standin.url,
        "FRAMESEARCH_ROBOFLOW_CLIP_VERSION": TEST_CLIP_VERSION,
        "FRAMESEARCH_STORE": str(tmp_path / "store"),
    }


def cli(env: dict[str, str], *args: str):
    return runner.invoke(app, list(args), env=env)


@pytest.mark.slow
def test_local_ingest_and_search_through_roboflow_inference(env, inference_standin, sample_video, tmp_path):
    inference_standin.concurrent = 2
    ingested = cli(env, "ingest", "local", str(sample_video), "--fps", "2", "--model", "roboflow", "--json")
    assert ingested.exit_code == 0, ingested.output
    outcome = json.loads(ingested.stdout)[0]
    assert outcome["status"] == "indexed" and outcome["frames"] == 20
    sent = inference_standin.images_per_call()
    assert sum(sent) == 20 and max(sent) > 1, sent  # several frames a request
    assert inference_standin.saw_concurrent, "a few requests in flight at once"
    assert all(c["body"]["clip_version_id"] == TEST_CLIP_VERSION for c in inference_standin.calls)

    video = json.loads(cli(env, "videos", "list", "--json").stdout)[0]
    assert video["model"] == f"clip/{TEST_CLIP_VERSION}"

    inference_standin.calls.clear()
    found = cli(env, "search", "a red circle", "--json")  # no --model: the collection records Roboflow's CLIP
    assert found.exit_code == 0, found.output
    # the query, and (once per process) the bank of background captions its confidence is measured against
    assert {c["path"] for c in inference_standin.calls} == {"/clip/embed_text"}
    top = json.loads(found.stdout)["results"][0]
    assert top["video_id"] == "bikes.mp4" and 4.0 <= top["start"] and top["end"] <= 7.5, top

    again = cli(env, "ingest", "local", str(sample_video), "--fps", "1", "--video-id", "again", "--json")
    assert again.exit_code == 0, again.output  # later frames go to the recorded model, Roboflow's, too
    assert json.loads(again.stdout)[0]["frames"] == 10

    out = tmp_path / "r.json"
    inferred = cli(env, "infer", str(sample_video), "--fps", "1", "-o", str(out), "--model", "roboflow")
    assert inferred.exit_code == 0, inferred.output
    assert len(json.loads(out.read_text())["clip"]) == 10


def test_a_wrong_key_stops_in_one_line_without_showing_it(env, sample_video):
    wrong = {**env, "ROBOFLOW_API_KEY": "wrong-key-0451"}
    result = cli(wrong, "ingest", "local", str(sample_video), "--fps", "1", "--model", "roboflow")
    assert result.exit_code == 1
    assert "Roboflow refused the API key" in result.stderr and "ROBOFLOW_API_KEY" in result.stderr
    assert "wrong-key-0451" not in result.output
    missing = {k: v for k, v in env.items() if k != "ROBOFLOW_API_KEY"}
    result = cli(missing, "ingest", "local", str(sample_video), "--fps", "1", "--model", "roboflow")
    assert result.exit_code == 1 and "needs an API key" in result.stderr
