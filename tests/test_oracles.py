"""Roboflow's official clients as the conformance oracle of our stand-ins: `inference-sdk`'s `InferenceHTTPClient`
(CLIP embeddings) and the `roboflow` SDK (video inference) run against the very stand-ins our own code is tested
against, so the stand-ins are shown to speak Roboflow's protocol, and our clients are compared with theirs.

The clients live in their own environment (the `oracle` extra; `.ci/run` makes `.venv-oracle` when it installs,
or name another with FRAMESEARCH_ORACLE_PYTHON): their pins (numpy, pillow, typer) differ from the product's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.embedders.roboflow import RoboflowClip
from framesearch.ingest.shapes import render_scene
from tests.conftest import ROBOFLOW_TEST_KEY as KEY
from tests.helpers.inference_standin import TEST_CLIP_VERSION, bundled_tiny

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "helpers" / "oracle_clients.py"
runner = CliRunner()


def oracle_python(module: str) -> str:
    """The oracle environment's Python, when it has `module`; else the test is skipped with the reason."""
    python = os.environ.get("FRAMESEARCH_ORACLE_PYTHON") or str(ROOT / ".venv-oracle" / "bin" / "python")
    if not Path(python).exists():
        pytest.skip(f"no oracle environment at {python}: `bash .ci/run` makes it (pip install the `oracle` extra there)")
    found = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    if found.returncode != 0:
        pytest.skip(f"the oracle environment cannot import {module}: {found.stderr.strip().splitlines()[-1:]}")
    return python


def run_oracle(python: str, *args: str) -> dict:
    done = subprocess.run(
        [python, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.mark.slow
def test_inference_sdk_gets_from_the_standin_what_our_client_gets(inference_standin, tmp_path):
    python = oracle_python("inference_sdk")
    scenes = [
        ("circle", "red", "white"),
        ("star", "yellow", "blue"),
        ("triangle", "green", "black"),
        ("square", "white", "black"),
        ("circle", "blue", "yellow"),
    ]
    paths, images = [], []
    for i, (shape, colour, background) in enumerate(scenes):
        image = render_scene(shape, colour, background, 0.5, (0.5, 0.5), (160, 120))
        image.save(tmp_path / f"scene{i}.png")
        paths.append(str(tmp_path / f"scene{i}.png"))
        images.append(np.asarray(image))
    theirs = run_oracle(python, "inference-sdk", inference_standin.url, KEY, TEST_CLIP_VERSION, *paths)

    embed_calls = [c for c in inference_standin.calls if c["path"] == "/clip/embed_image" and c["status"] == 200]
    assert sorted(c["images"] for c in embed_calls) == [1, 2, 2], "the SDK batched two images a request"
    assert all(c["body"]["clip_version_id"] == TEST_CLIP_VERSION for c in embed_calls)
    assert theirs["wrong_key_status"] == 401

    ours = RoboflowClip(KEY, inference_standin.url, TEST_CLIP_VERSION)
    sdk_images = np.asarray(theirs["images"], dtype=np.float32)
    assert sdk_images.shape == (5, 64)
    assert cosines(sdk_images, ours.embed_images(images)).min() > 0.99  # both send JPEG/PNG; same model, same order
    assert cosines(sdk_images, bundled_tiny().embed_images(images)).min() > 0.99
    texts = ["a red circle", "a yellow star"]
    np.testing.assert_allclose(theirs["texts"], ours.embed_texts(texts), atol=1e-5)
    np.testing.assert_allclose(theirs["single"], ours.embed_texts(["a green triangle"]), atol=1e-5)


@pytest.mark.slow
def test_the_roboflow_sdk_runs_video_inference_against_the_standin(roboflow_standin, sample_video, tmp_path, roboflow_text_model):
    python = oracle_python("roboflow.models.clip")
    theirs = run_oracle(python, "roboflow-video", roboflow_standin.api_url, KEY, str(sample_video), "2")

    job = roboflow_standin.jobs[theirs["job_id"]]
    assert job["video"] == sample_video.read_bytes(), "the SDK uploaded the video through the signed URL"
    assert job["fps"] == 2 and theirs["expires"] == "900"
    results = theirs["results"]
    assert len(results["frame_offset"]) == len(results["clip"]) > 0

    saved = tmp_path / "sdk-results.json"
    saved.write_text(json.dumps(results))
    store = str(tmp_path / "store")
    indexed = runner.invoke(
        app,
        [
            "--store",
            str(tmp_path / "sdk-store"),
            "ingest",
            "results",
            str(saved),
            "--video-id",
            "via-sdk",
            "--fps",
            "2",
            "--model",
            str(roboflow_text_model),
        ],
    )  # the stand-in's 8-d CLIP
    assert indexed.exit_code == 0, indexed.output

    ours = runner.invoke(
        app,
        [
            "--store",
            store,
            "ingest",
            "roboflow",
            str(sample_video),
            "--fps",
            "2",
            "--video-id",
            "via-framesearch",
            "--poll-interval",
            "0.05",
            "--json",
        ],
        env={"ROBOFLOW_API_KEY": KEY, "API_URL": roboflow_standin.api_url},
    )
    assert ours.exit_code == 0, ours.output
    mine = json.loads(Path(json.loads(ours.stdout)[0]["results_path"]).read_text())
    assert mine == results, "our client and Roboflow's fetched the same results"
