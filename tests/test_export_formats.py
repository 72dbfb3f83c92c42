"""Search exports that other tools read: each format parsed by a real parser (csv, webvtt-py, pycmx), from the CLI
and over HTTP, on a library of two videos with long ids, and with a sequence (`--then`)."""

from __future__ import annotations

import csv
import io
import json

import pycmx
import pytest
import webvtt
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.search.exports import reel_names
from framesearch.service.app import create_app
from framesearch.settings import Settings

runner = CliRunner()
ONE, TWO = "archive/2024/evening news bulletin.mp4", "archive/2024/evening news replay.mp4"
THRESHOLD = "0.5"


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip_dir):
    """Two videos sampled at 2 fps: red then green moments in each, at different times."""
    import numpy as np

    from framesearch.embedders.onnx_clip import OnnxClip
    from tests.conftest import results_json
    from tests.helpers.tiny_clip import solid_frame

    root = tmp_path_factory.mktemp("exports")
    clip = OnnxClip(tiny_clip_dir)
    stories = {
        ONE: [("blue", 2), ("red", 2), ("green", 1.5), ("blue", 3), ("red", 1)],
        TWO: [("red", 1.5), ("blue", 1), ("green", 2)],
    }
    for n, (video_id, runs) in enumerate(stories.items()):
        colours = [c for c, seconds in runs for _ in range(round(seconds * 2))]
        vectors = clip.embed_images(np.stack([solid_frame(c) for c in colours]))
        frames = [i * 12 for i in range(len(colours))]
        path = root / f"{n}.json"
        path.write_text(json.dumps(results_json(frames, [f / 24 for f in frames], vectors.tolist())))
        args = ["--store", str(root / "store"), "ingest", "results", str(path), "--video-id", video_id, "--fps", "2"]
        result = runner.invoke(app, [*args, "--model", str(tiny_clip_dir)])
        assert result.exit_code == 0, result.output
    return root


def cli(library, *args: str) -> str:
    result = runner.invoke(app, ["--store", str(library / "store"), "search", "--threshold", THRESHOLD, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def seconds(stamp: str) -> float:
    """A WebVTT timestamp (as webvtt-py reads it) in seconds, to the millisecond."""
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def answer(library, *args: str) -> dict:
    return json.loads(cli(library, *args, "--json"))


def test_csv_has_one_row_per_result_with_rank_and_both_parts_of_a_sequence(library):
    found = answer(library, "red")["results"]
    table = list(csv.DictReader(io.StringIO(cli(library, "red", "--format", "csv"))))
    assert [(r["video_id"], float(r["start"]), float(r["end"]), int(r["rank"])) for r in table] == [
        (r["video_id"], r["start"], r["end"], n) for n, r in enumerate(found, 1)
    ]
    sequences = answer(library, "red", "--then", "green")["results"]
    assert len(sequences) == 2
    rows = list(csv.DictReader(io.StringIO(cli(library, "red", "--then", "green", "--format", "csv"))))
    assert [(r["rank"], r["part"]) for r in rows] == [("1", "first"), ("1", "then"), ("2", "first"), ("2", "then")]
    for n, s in enumerate(sequences):
        first, then = rows[2 * n], rows[2 * n + 1]
        assert (float(first["start"]), float(first["end"])) == (s["first"]["start"], s["first"]["end"])
        assert (float(then["start"]), float(then["end"])) == (s["then"]["start"], s["then"]["end"])


def test_vtt_cues_are_in_time_order_and_each_names_its_video(library):
    text = cli(library, "red", "--format", "vtt")
    cues = webvtt.from_string(text).captions
    found = answer(library, "red")["results"]
    assert len(cues) == len(found) >= 3 and {r["video_id"] for r in found} == {ONE, TWO}
    starts = [seconds(c.start) for c in cues]
    assert starts == sorted(starts)
    for cue in cues:
        match = [r for r in found if abs(r["start"] - seconds(cue.start)) < 1e-3 and abs(r["end"] - seconds(cue.end)) < 1e-3]
        assert any(cue.text.startswith(f"{r['video_id']}: #") for r in match), cue.text
    one = webvtt.from_string(cli(library, "red", "--video-id", ONE, "--format", "vtt"))
    assert [seconds(c.start) for c in one.captions] == sorted(r["start"] for r in found if r["video_id"] == ONE)
    assert f"NOTE video: {ONE}" in cli(library, "red", "--video-id", ONE, "--format", "vtt")


def test_vtt_of_a_sequence_has_a_cue_for_each_part(library):
    cues = webvtt.from_string(cli(library, "red", "--then", "green", "--format", "vtt")).captions
    assert len(cues) == 4 and sum("(then) green" in c.text for c in cues) == 2 and sum("(first) red" in c.text for c in cues) == 2
    assert [seconds(c.start) for c in cues] == sorted(seconds(c.start) for c in cues)


def test_edl_parses_with_reels_of_at_most_8_characters_and_the_full_id_in_comments(library):
    found = answer(library, "red")["results"]
    edl = pycmx.parse_cmx3600(io.StringIO(cli(library, "red", "--format", "edl")))
    edits = [e for event in edl.events for e in event.edits]
    assert len(edits) == len(found)
    assert all(len(e.source) <= 8 and e.source.isalnum() for e in edits)
    assert len({e.source for e in edits}) == 2  # two videos, two reels, though their ids share the first 8 letters
    assert [(e.source_file, e.clip_name) for e in edits] == [(r["video_id"], r["video_id"]) for r in found]
    assert not [s for event in edl.events for s in event.unrecognized_statements if s.content.strip()]
    sequence = pycmx.parse_cmx3600(io.StringIO(cli(library, "red", "--then", "green", "--format", "edl")))
    parts = [e for event in sequence.events for e in event.edits]
    assert len(parts) == 4 and all(e.source_in < e.source_out for e in parts)


def test_reel_names_are_short_distinct_and_stable():
    ids = ["a/very long name.mp4", "b/very long name.mov", "c/VERY-LONG-NAMES.mp4", "x.mp4", "../!!.mp4"]
    names = reel_names(ids)
    assert all(len(n) <= 8 and n.replace("_", "").isalnum() for n in names.values()) and len(set(names.values())) == 5
    assert names["x.mp4"] == "X" and names["a/very long name.mp4"] == "VERYLONG"
    assert reel_names(ids) == names


def test_http_exports_match_the_cli(library):
    wanted = {fmt: cli(library, "red", "--then", "green", "--format", fmt) for fmt in ("csv", "vtt", "edl")}
    with TestClient(create_app(Settings(store=library / "store"))) as client:
        for fmt, text in wanted.items():
            body = {"q": "red", "then": "green", "threshold": float(THRESHOLD), "format": fmt}
            got = client.post("/search", json=body)
            assert got.status_code == 200 and got.text == text
