"""The absolute confidence (search/background.py): "no moments" for what is not there, through the CLI and HTTP;
raising the floor never adds results; the calibration comes from the model folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.embedders.onnx_clip import OnnxClip
from framesearch.embedders.resolve import resolve_model
from framesearch.search.background import CACHE_FILE, DEFAULT_TEMPERATURE, NULL_PROMPTS, BankCalibration, bank_for
from framesearch.search.core import search
from framesearch.search.models import SearchRequest
from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.store.edge import EdgeStore
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
SCENES = [("circle", "red", "white", 3.0), ("square", "blue", "yellow", 3.0), ("triangle", "green", "black", 3.0)]
NONSENSE = "zzzzqqq unicorn"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("confidence")
    video = write_shapes_video(root / "shapes.mp4", SCENES)
    store = root / "store"
    args = ["--store", str(store), "ingest", "local", str(video), "--fps", "2", "--model", "tiny-shapes-clip"]
    assert runner.invoke(app, args).exit_code == 0
    return store


def cli(store, *args: str):
    result = runner.invoke(app, ["--store", str(store), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_nonsense_query_answers_no_moments_in_the_cli(indexed):
    assert "No moments match at confidence" in cli(indexed, "search", NONSENSE)
    assert json.loads(cli(indexed, "search", NONSENSE, "--json"))["results"] == []
    shown = json.loads(cli(indexed, "search", "a red circle", "--json"))["results"]
    assert [(r["start"], r["end"]) for r in shown] == [(0.0, 3.0)]
    assert shown[0]["confidence"] >= Settings().min_confidence


def test_absent_shapes_and_nonsense_answer_an_empty_list_over_http(indexed):
    copy = indexed.parent / "store-http"
    shutil.copytree(indexed, copy, dirs_exist_ok=True)
    with TestClient(create_app(Settings(store=copy))) as client:
        for query in (NONSENSE, "a purple hexagon", "a yellow star"):
            got = client.get("/search", params={"q": query})
            assert got.status_code == 200
            assert got.json()["results"] == [] and got.json()["threshold_kind"] == "calibrated", query
        posted = client.post("/search", json={"q": "a green triangle"}).json()
        assert [(r["start"], r["end"]) for r in posted["results"]] == [(6.0, 9.0)]


def frames_at(store, embedder, query: str, floor: float) -> tuple[set, list]:
    moments = search(store, SearchRequest(q=query, limit=100, min_confidence=floor), Settings(), embedder).results
    return {(m.video_id, f.frame) for m in moments for f in m.frames}, [(m.video_id, m.start, m.end) for m in moments]


@pytest.fixture(scope="module")
def opened(indexed):
    copy = indexed.parent / "store-mono"
    shutil.copytree(indexed, copy, dirs_exist_ok=True)
    with EdgeStore(copy) as store:
        yield store, OnnxClip(resolve_model("tiny-shapes-clip"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.sampled_from(["a red circle", "a blue square", "a green triangle", "a yellow star", NONSENSE, "a red"]),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
)
def test_raising_the_floor_never_adds_results(opened, query, low, high):
    store, embedder = opened
    low, high = min(low, high), max(low, high)
    loose, loose_moments = frames_at(store, embedder, query, low)
    strict, strict_moments = frames_at(store, embedder, query, high)
    assert strict <= loose
    for video, start, end in strict_moments:  # each moment lies within one of the looser answer's
        assert any(v == video and s <= start + 1e-6 and end <= e + 1e-6 for v, s, e in loose_moments)


def test_the_calibration_is_read_from_the_model_folder(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(resolve_model("tiny-shapes-clip"), folder)
    (folder / CACHE_FILE).unlink(missing_ok=True)
    (folder / "calibration.json").write_text(json.dumps({"temperature": 7.5, "prompts": ["a red circle", "a blue sky"]}))
    bank = bank_for(OnnxClip(folder))
    assert bank.temperature == 7.5 and "a blue sky" in bank.texts and set(NULL_PROMPTS) <= set(bank.texts)
    assert (folder / CACHE_FILE).is_file()  # embedded once, cached beside the model's files
    again = bank_for(OnnxClip(folder))
    assert np.allclose(again.vectors, bank.vectors)
    (folder / "calibration.json").unlink()  # a model without one: the generic bank and CLIP's logit scale
    plain = bank_for(OnnxClip(folder))
    assert plain.temperature == DEFAULT_TEMPERATURE and "a blue sky" not in plain.texts


def test_max_pooling_keeps_both_things_a_frame_shows_and_drops_a_beaten_near_miss(tmp_path):
    """A frame showing a red square beside a blue circle: under "sum" the two true captions share the frame (neither
    is confident), under "max" each is as good as the strongest rival and stays confident; a near miss that a rival
    beats by more than the margin stays low either way. The pooling and margin are read from calibration.json."""
    folder = tmp_path / "model"
    shutil.copytree(resolve_model("tiny-shapes-clip"), folder)
    settings = {"temperature": 20.0, "anchor": -1.0, "pooling": "max", "margin": 0.05, "prompts": ["a blue circle"]}
    (folder / "calibration.json").write_text(json.dumps(settings))
    bank = bank_for(OnnxClip(folder))
    assert (bank.pooling, bank.margin) == ("max", 0.05)
    square, circle = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    frame = (square + circle) / np.sqrt(2)  # shows both equally
    near_miss = 0.8 * square + 0.6 * np.eye(4, dtype=np.float32)[2]  # a caption the frame matches less well
    rival = circle.reshape(1, -1)
    for pooling, expect_true in (("sum", False), ("max", True)):
        calibration = BankCalibration(square, rival, 20.0, -1.0, -1.0, pooling, 0.05 if pooling == "max" else 0.0)
        (confidence,) = calibration.confidences(np.asarray([float(frame @ square)]), frame.reshape(1, -1))
        assert bool(confidence >= 0.6) is expect_true, (pooling, confidence)
        miss = BankCalibration(near_miss, rival, 20.0, -1.0, -1.0, pooling, 0.05 if pooling == "max" else 0.0)
        (low,) = miss.confidences(np.asarray([float(frame @ near_miss)]), frame.reshape(1, -1))
        assert low < 0.5, (pooling, low)
