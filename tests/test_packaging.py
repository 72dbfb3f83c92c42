"""What `pip install framesearch` puts into site-packages: one import root, with its data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (built,) = out.glob("framesearch-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(wheel):
    names = wheel.namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"framesearch"}
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert wheel.read(top_level).decode().split() == ["framesearch"]


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_model_the_page_and_every_layer(wheel):
    names = set(wheel.namelist())
    for layer in ("store", "embedders", "ingest", "search", "service", "cli"):
        assert f"framesearch/{layer}/__init__.py" in names
    assert "framesearch/embedders/models/tiny-shapes-clip/visual.onnx" in names
    assert {"framesearch/service/static/index.html", "framesearch/service/static/app.js"} <= names
    assert not any(n.startswith(("framesearch/tests", "framesearch/bench", "tests/")) for n in names)
