"""Negatives, sequences, exports, the score timeline, clips and prompt ensembles, from the CLI and over HTTP,
on a rendered shapes video indexed with the bundled model."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.helpers.synthetic_video import write_shapes_video
from tests.test_shapes_e2e import SEGMENTS

runner = CliRunner()
# Not marked slow: in-process (CliRunner, TestClient) on a 17 s rendered video, ~40 s in all on a loaded 2-core
# machine, and the only tests of negatives, sequences, exports, the timeline, clips and prompt templates.
BLACK_TRIANGLE = "a green triangle on a black background"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    video = write_shapes_video(root / "shapes.mp4", SEGMENTS)  # 10 fps; scenes cut at 3, 6, 9, 12, 15 s
    store = root / "store"
    args = ["--store", str(store), "ingest", "local", str(video), "--fps", "2", "--model", "tiny-shapes-clip"]
    assert runner.invoke(app, args).exit_code == 0
    return store


def cli(store, *args: str):
    result = runner.invoke(app, ["--store", str(store), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def ranges(answer: dict) -> list[tuple[float, float]]:
    return sorted((r["start"], r["end"]) for r in answer["results"])


@pytest.fixture(scope="module")
def client(indexed):
    """The service over a copy of the store (Qdrant Edge lets one process hold a store; the CLI uses the original)."""
    copy = indexed.parent / "store-http"
    shutil.copytree(indexed, copy)
    with TestClient(create_app(Settings(store=copy))) as c:
        yield c


def test_not_removes_the_moments_the_negative_describes(indexed, client):
    both = json.loads(cli(indexed, "search", "a green triangle", "--json"))
    assert ranges(both) == [(6.0, 9.0), (15.0, 17.0)]
    answer = json.loads(cli(indexed, "search", "a green triangle", "--not", BLACK_TRIANGLE, "--json"))
    assert ranges(answer) == [(15.0, 17.0)]
    frames = json.loads(cli(indexed, "search", "a green triangle", "--not", BLACK_TRIANGLE, "--mode", "frames", "--json"))
    assert frames["count"] and all(r["timestamp"] >= 15 for r in frames["results"])
    posted = client.post("/search", json={"q": "a green triangle", "not": [BLACK_TRIANGLE]}).json()
    assert ranges(posted) == [(15.0, 17.0)]
    got = client.get("/search", params=[("q", "a green triangle"), ("not", BLACK_TRIANGLE), ("not", "a red star")]).json()
    assert ranges(got) == [(15.0, 17.0)]


def test_then_finds_the_query_followed_by_the_second_within_the_gap(indexed, client):
    answer = json.loads(cli(indexed, "search", "a red circle", "--then", "a blue square", "--within", "1", "--json"))
    assert answer["mode"] == "sequences" and answer["count"] == 1
    found = answer["results"][0]
    assert (found["start"], found["end"], found["gap"]) == (0.0, 6.0, 0.0)
    assert (found["first"]["end"], found["then"]["start"]) == (3.0, 3.0) and found["confidence"] >= Settings().min_confidence
    reverse = cli(indexed, "search", "a blue square", "--then", "a red circle", "--within", "5", "--json")
    assert json.loads(reverse)["count"] == 0
    far = client.post("/search", json={"q": "a red circle", "then": "a white circle", "within": 5}).json()
    assert far["count"] == 0  # the white circle starts 9 s after the red circle ends
    near = client.get("/search", params={"q": "a red circle", "then": "a white circle", "within": 9.5}).json()
    assert [(r["start"], r["end"]) for r in near["results"]] == [(0.0, 15.0)]
    bad = client.get("/search", params={"q": "a red circle", "within": 3})
    assert bad.status_code == 422 and "within" in bad.json()["detail"]


def test_exports_csv_vtt_and_edl(indexed, client):
    rows = list(csv.reader(io.StringIO(cli(indexed, "search", "a green triangle", "--format", "csv"))))
    assert rows[0] == ["video_id", "start", "end", "score", "confidence", "peak_time", "rank", "part"]
    assert sorted((r[0], float(r[1]), float(r[2])) for r in rows[1:]) == [("shapes.mp4", 6.0, 9.0), ("shapes.mp4", 15.0, 17.0)]
    assert [int(r[6]) for r in rows[1:]] == [1, 2]  # rank order
    vtt = cli(indexed, "search", "a green triangle", "--format", "vtt")
    assert vtt.startswith("WEBVTT\n") and "00:00:06.000 --> 00:00:09.000" in vtt and "00:00:15.000 --> 00:00:17.000" in vtt
    edl = cli(indexed, "search", "a green triangle", "--format", "edl")
    events = [line.split() for line in edl.splitlines() if line[:3].isdigit()]
    # source timecodes at the video's 10 fps; the record side lays the events end to end
    # reels are at most 8 characters (CMX3600); the full id follows in comments
    assert [e[:4] for e in events] == [["001", "SHAPES", "V", "C"], ["002", "SHAPES", "V", "C"]]
    assert sorted(e[4:6] for e in events) == [["00:00:06:00", "00:00:09:00"], ["00:00:15:00", "00:00:17:00"]]
    assert events[0][6] == "00:00:00:00" and events[0][7] == events[1][6]  # end to end, in the answer's order
    assert "* SOURCE FILE: shapes.mp4" in edl
    answer = client.get("/search", params={"q": "a green triangle", "format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv") and answer.text.splitlines()[1] == ",".join(rows[1])
    vtt_http = client.post("/search", json={"q": "a green triangle", "format": "vtt"})
    assert vtt_http.headers["content-type"].startswith("text/vtt") and vtt_http.text == vtt
    assert client.get("/search", params={"q": "x", "format": "pdf"}).status_code == 422
    assert json.loads(cli(indexed, "search", "a green triangle", "--format", "json")) == json.loads(
        cli(indexed, "search", "a green triangle", "--json")
    )


def test_timeline_scores_every_frame_of_the_video(indexed, client):
    answer = client.get("/videos/shapes.mp4/timeline", params={"q": "a blue square"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 34 and [p["timestamp"] for p in body["points"]] == sorted(p["timestamp"] for p in body["points"])
    assert {p["timestamp"] for p in body["points"] if p["match"]} == {3.0, 3.5, 4.0, 4.5, 5.0, 5.5}
    assert body["cuts"] == [3.0, 6.0, 9.0, 12.0, 15.0] and body["threshold_kind"] == "calibrated"
    best = max(body["points"], key=lambda p: p["score"])
    assert 3 <= best["timestamp"] < 6 and all(0 <= p["confidence"] <= 1 for p in body["points"])
    part = client.get("/videos/shapes.mp4/timeline", params={"q": "a blue square", "t_min": 10, "threshold": 0.99}).json()
    assert part["count"] == 14 and not any(p["match"] for p in part["points"]) and part["threshold_kind"] == "cosine"
    assert client.get("/videos/nope/timeline", params={"q": "x"}).status_code == 404


def test_clip_cuts_a_result_or_a_range_from_the_cli_and_http(indexed, client, tmp_path):
    import av

    answer = cli(indexed, "search", "a blue square", "--json")
    (tmp_path / "answer.json").write_text(answer)
    report = json.loads(cli(indexed, "clip", str(tmp_path / "answer.json"), "-o", str(tmp_path / "a.mp4"), "--json"))
    assert (report["start"], report["end"], report["frames"]) == (3.0, 6.0, 30)
    with av.open(str(tmp_path / "a.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 30
    out = str(tmp_path / "b.mp4")
    part = json.loads(cli(indexed, "clip", "shapes.mp4", "--from", "1.05", "--to", "2.05", "-o", out, "--json"))
    assert part["method"] == "reencode" and part["frames"] == 10
    got = client.get("/videos/shapes.mp4/clip", params={"start": 3, "end": 6})
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4" and got.content[4:8] == b"ftyp"
    assert client.get("/videos/shapes.mp4/clip", params={"start": 5, "end": 4}).status_code == 422
    bad = runner.invoke(app, ["--store", str(indexed), "clip", "shapes.mp4", "-o", str(tmp_path / "c.mp4")])
    assert bad.exit_code == 1 and "--from and --to" in bad.output


def test_prompt_templates_embed_the_mean_of_the_filled_templates(tmp_path):
    from framesearch.embedders.onnx_clip import OnnxClip
    from framesearch.embedders.resolve import bundled_models
    from framesearch.errors import ModelError
    from framesearch.search.prompts import query_vector
    from framesearch.vectors import normalize

    folder = tmp_path / "ensemble"
    shutil.copytree(bundled_models()["tiny-shapes-clip"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "prompt_templates": ["a photo of {}", "{}"]}))
    model = OnnxClip(folder)
    mean = normalize(model.embed_texts(["a photo of a red circle", "a red circle"]).mean(axis=0))
    assert np.allclose(query_vector(model, "a red circle"), mean, atol=1e-6)
    plain = OnnxClip(bundled_models()["tiny-shapes-clip"])
    assert np.allclose(query_vector(plain, "a red circle"), plain.embed_texts(["a red circle"])[0], atol=1e-6)
    (folder / "config.json").write_text(json.dumps({**config, "prompt_templates": ["no placeholder"]}))
    with pytest.raises(ModelError, match="prompt_templates"):
        OnnxClip(folder)


def test_the_calibration_sample_follows_the_library(tmp_path, colour_results):
    from framesearch.search.calibration import library_sample
    from framesearch.store.edge import EdgeStore

    with EdgeStore(tmp_path / "store") as store:
        from framesearch.ingest.index import ingest_results
        from framesearch.ingest.results import load_results_file

        ingest_results(store, load_results_file(colour_results("a", [("red", 5.0)])), "a", model="m")
        assert len(library_sample(store)) == 10
        ingest_results(store, load_results_file(colour_results("b", [("blue", 3.0)])), "b", model="m")
        assert len(library_sample(store)) == 16
        store.delete_video("a")
        assert len(library_sample(store)) == 6
