"""End to end with the shipped small CLIP: render a video with known shape segments, index it, query it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
pytestmark = pytest.mark.slow
SEGMENTS = [
    ("circle", "red", "white", 3.0),  # 0-3 s
    ("square", "blue", "yellow", 3.0),  # 3-6 s
    ("triangle", "green", "black", 3.0),  # 6-9 s
    ("star", "yellow", "blue", 3.0),  # 9-12 s
    ("circle", "white", "black", 3.0),  # 12-15 s
    ("triangle", "green", "white", 2.0),  # 15-17 s
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    video = write_shapes_video(root / "shapes.mp4", SEGMENTS)
    store = root / "store"
    result = runner.invoke(
        app, ["--store", str(store), "ingest", "local", str(video), "--fps", "2", "--model", "tiny-shapes-clip", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["frames"] == 34
    return store


def search(store, text: str, *extra: str) -> list[dict]:
    result = runner.invoke(app, ["--store", str(store), "search", text, "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["results"]


@pytest.mark.parametrize(
    "query, start, end",
    [("a red circle", 0.0, 2.5), ("a blue square", 3.0, 5.5), ("a yellow star", 9.0, 11.5), ("a white circle", 12.0, 14.5)],
)
def test_query_returns_its_time_range_first(indexed, query, start, end):
    top = search(indexed, query)[0]
    assert top["video_id"] == "shapes.mp4"
    assert top["start"] == pytest.approx(start, abs=0.5) and top["end"] == pytest.approx(end, abs=0.5)


def test_a_green_triangle_finds_both_of_its_segments_first(indexed):
    results = search(indexed, "a green triangle")
    ranges = sorted((r["start"], r["end"]) for r in results[:2])
    assert ranges[0] == pytest.approx((6.0, 8.5), abs=0.5)
    assert ranges[1] == pytest.approx((15.0, 16.5), abs=0.5)
    assert all(r["start"] >= 6.0 - 0.5 for r in results)


def test_time_filter_and_the_models_default_threshold(indexed):
    late = search(indexed, "a green triangle", "--from", "10")
    assert late[0]["start"] == pytest.approx(15.0, abs=0.5)
    assert {r["video_id"] for r in late} == {"shapes.mp4"}
    loose = search(indexed, "a green triangle", "--threshold", "-1", "--mode", "frames", "--limit", "100")
    assert len(loose) == 34
