"""`ingest results` end to end: which model and rate are recorded, under which id, what a dry run says,
and what search answers for an unknown video id (CLI and HTTP)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.service.app import create_app
from framesearch.settings import Settings

runner = CliRunner()


def invoke(store, *args: str):
    return runner.invoke(app, ["--store", str(store), *args])


def listed(store) -> dict:
    return {v["video_id"]: v for v in json.loads(invoke(store, "videos", "list", "--json").output)}


@pytest.fixture(scope="module")
def inferred(tmp_path_factory, sample_video):
    """`framesearch infer` of the shapes video with the bundled model: a 64-d results file that names itself."""
    out = tmp_path_factory.mktemp("infer") / "shapes-results.json"
    result = runner.invoke(app, ["infer", str(sample_video), "--fps", "2", "-o", str(out), "--model", "tiny-shapes-clip"])
    assert result.exit_code == 0, result.output
    return out


def without_metadata(path, tmp_path, name="plain.json", shape=None):
    doc = json.loads(path.read_text())
    doc.pop("framesearch")
    if shape == "bare":
        doc["clip"] = [entry["embeddings"][0] for entry in doc["clip"]]
    target = tmp_path / name
    target.write_text(json.dumps(doc))
    return target


def test_a_file_from_infer_ingests_as_its_video_with_its_model_and_rate(tmp_path, inferred):
    result = invoke(tmp_path / "s", "ingest", "results", str(inferred))
    assert result.exit_code == 0, result.output
    assert "indexed bikes.mp4: 20 frames" in result.output
    assert "framesearch/tiny-shapes-clip, as the file records" in result.output
    video = listed(tmp_path / "s")["bikes.mp4"]
    assert (video["model"], video["fps"], video["source"]) == ("framesearch/tiny-shapes-clip", 2.0, "results")
    found = invoke(tmp_path / "s", "search", "a red circle", "--json", "--threshold", "0")
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["results"][0]["video_id"] == "bikes.mp4"


@pytest.mark.parametrize("shape", ["dict", "bare"])
def test_a_bundled_model_name_records_its_canonical_identity_and_search_works(tmp_path, inferred, shape):
    plain = without_metadata(inferred, tmp_path, shape=shape)
    result = invoke(tmp_path / "s", "ingest", "results", str(plain), "--model", "tiny-shapes-clip")
    assert result.exit_code == 0, result.output
    assert "sampling rate 2 fps, derived from the time offsets" in result.output
    video = listed(tmp_path / "s")["plain"]
    assert (video["model"], video["fps"], video["frames"]) == ("framesearch/tiny-shapes-clip", 2.0, 20)
    found = invoke(tmp_path / "s", "search", "a red circle", "--threshold", "0")
    assert found.exit_code == 0 and "plain" in found.output, found.output


def test_without_a_model_a_size_that_is_not_vit_b_is_refused(tmp_path, inferred):
    plain = without_metadata(inferred, tmp_path)
    result = invoke(tmp_path / "s", "ingest", "results", str(plain))
    assert result.exit_code == 1
    assert "the file's vectors are 64-d but clip/ViT-B-16 makes 512-d ones" in result.output
    assert "--model" in result.output
    large = invoke(tmp_path / "s", "ingest", "results", str(plain), "--model", "clip/ViT-L-14")
    assert large.exit_code == 1 and "64-d but clip/ViT-L-14 makes 768-d ones" in large.output
    unknown = invoke(tmp_path / "s", "ingest", "results", str(plain), "--model", "no-such-model")
    assert unknown.exit_code == 1 and "'no-such-model' is neither a model folder" in unknown.output
    assert listed(tmp_path / "s") == {}


def test_a_dry_run_says_what_would_be_indexed_and_writes_nothing(tmp_path, inferred):
    result = invoke(tmp_path / "s", "ingest", "results", str(inferred), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would index bikes.mp4: 20 frames (0 null skipped), framesearch/tiny-shapes-clip, 2 fps, 64-d" in result.output
    assert "nothing written" in result.output
    assert listed(tmp_path / "s") == {}
    as_json = json.loads(invoke(tmp_path / "s", "ingest", "results", str(inferred), "--dry-run", "--json").output)
    assert as_json[0]["dry_run"] is True and as_json[0]["frames"] == 20
    refused = invoke(tmp_path / "s", "ingest", "results", str(without_metadata(inferred, tmp_path)), "--dry-run")
    assert refused.exit_code == 1 and "64-d" in refused.output


def test_the_same_results_under_another_id_warn(tmp_path, inferred):
    assert invoke(tmp_path / "s", "ingest", "results", str(inferred)).exit_code == 0
    again = invoke(tmp_path / "s", "ingest", "results", str(inferred), "--video-id", "copy")
    assert again.exit_code == 0
    assert "warning: the same results (frames and vectors) are already indexed as 'bikes.mp4'" in again.output
    assert set(listed(tmp_path / "s")) == {"bikes.mp4", "copy"}
    same_id = invoke(tmp_path / "s", "ingest", "results", str(inferred), "--video-id", "copy")
    assert "warning: the same results" in same_id.output  # 'bikes.mp4' still holds them


def test_an_unknown_video_id_filter_is_an_error_naming_it(tmp_path, inferred):
    invoke(tmp_path / "s", "ingest", "results", str(inferred))
    result = invoke(tmp_path / "s", "search", "red", "--video-id", "bikes.mp4", "--video-id", "bikes")
    assert result.exit_code == 1 and "no video 'bikes' in the library" in result.output
    assert invoke(tmp_path / "s", "search", "red", "--video-id", "bikes.mp4").exit_code == 0


def test_unknown_video_ids_answer_404_over_http(tmp_path, inferred):
    with TestClient(create_app(Settings(store=tmp_path / "s", model="tiny-shapes-clip"))) as client:
        created = client.post(
            "/videos/clip.mp4/results", content=inferred.read_bytes(), headers={"content-type": "application/json"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["notes"] == [
            "model framesearch/tiny-shapes-clip, as the file records",
            "sampling rate 2 fps, as the file records",
        ]
        for answer in (
            client.get("/search", params={"q": "red", "video_id": ["nope"]}),
            client.post("/search", json={"q": "red", "video_id": ["clip.mp4", "nope"]}),
            client.post("/search/similar", json={"like": {"video_id": "clip.mp4", "frame": 0}, "video_id": ["nope"]}),
        ):
            assert answer.status_code == 404 and "no video 'nope'" in answer.json()["detail"], answer.text
        assert client.get("/search", params={"q": "red", "video_id": ["clip.mp4"]}).status_code == 200
        dry = client.post(
            "/videos/other/results",
            params={"dry_run": "true"},
            content=inferred.read_bytes(),
            headers={"content-type": "application/json"},
        )
        assert dry.status_code == 201 and dry.json()["dry_run"] is True
        assert [v["video_id"] for v in client.get("/videos").json()["videos"]] == ["clip.mp4"]
