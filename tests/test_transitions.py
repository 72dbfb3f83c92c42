"""Gradual transitions: dissolves and fades are shot boundaries (at their middle), motion is not, and no moment
is a sliver shorter than one sampling interval; on videos rendered here with PyAV."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.ingest.cuts import CutDetector
from framesearch.search.edges import moment_edges, shot_starts
from tests.helpers.synthetic_video import write_transition_video

runner = CliRunner()
SCENES = [
    ("circle", "red", "white", 3),
    ("square", "blue", "gray", 3),
    ("triangle", "green", "black", 3),
    ("star", "yellow", "white", 3),
    ("circle", "blue", "brown", 3),
    ("square", "red", "white", 3),
]
TRANSITIONS = [("cut", 0), ("dissolve", 0.8), ("fade", 1.0), ("dissolve", 0.4), ("dissolve", 1.6)]
FRAME = 1 / 25


def detect(path) -> list[float]:
    detector = CutDetector(25.0)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            detector.feed(frame, float(frame.pts * stream.time_base))
    return detector.cuts()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_transition_video(tmp_path_factory.mktemp("transitions") / "transitions.mp4", SCENES, TRANSITIONS)


def test_cuts_dissolves_and_fades_are_boundaries_at_their_middle(video):
    path, truth = video
    found = detect(path)
    assert len(found) == len(truth) and all(abs(f - t) <= FRAME for f, t in zip(found, truth, strict=True)), found


def test_motion_and_a_slow_zoom_are_not_transitions(tmp_path):
    from framesearch.ingest.shapes import render_scene

    path = tmp_path / "motion.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(100):  # a shape crossing the frame, then growing
            x, size = (0.2 + 0.6 * min(i, 50) / 50, 0.3 + 0.4 * max(i - 50, 0) / 50)
            image = render_scene("square", "red", "white", size, (x, 0.5), (160, 120))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert detect(path) == []


def test_no_shot_is_a_sliver_and_no_moment_is_shorter_than_an_interval():
    assert shot_starts([3.0, 3.2, 6.0], 10.0, 0.5) == [0.0, 3.1, 6.0]  # a transition detected at both ends: one
    assert shot_starts([0.2, 5.0, 9.9], 10.0, 0.5) == [0.0, 5.0]  # too near the video's start or end
    start, end = moment_edges(3.0, 3.0, 0.5, [3.0, 3.33], 10.0)
    assert end - start >= 0.5
    start, end = moment_edges(2.9, 2.9, 0.5, [3.0], 10.0)  # a lone blended frame just before a boundary
    assert (start, end) == (2.5, 3.0)


@pytest.mark.slow
def test_moments_end_at_dissolves_and_none_is_a_sliver(video):
    path, truth = video
    store = path.parent / "store"
    args = ["--store", str(store), "ingest", "local", str(path), "--fps", "2", "--model", "tiny-shapes-clip"]
    assert runner.invoke(app, args).exit_code == 0
    records = json.loads(runner.invoke(app, ["--store", str(store), "videos", "list", "--json"]).stdout)
    assert np.allclose(records[0]["cuts"], truth, atol=FRAME)
    bounds = [0.0, *truth, 18.0]
    for k, (shape, colour, _, _) in enumerate(SCENES):
        result = runner.invoke(app, ["--store", str(store), "search", f"a {colour} {shape}", "--threshold", "0.5", "--json"])
        found = json.loads(result.stdout)["results"]
        assert all(r["end"] - r["start"] >= 0.5 - 1e-6 for r in found)
        scene = [r for r in found if r["start"] < bounds[k + 1] and r["end"] > bounds[k]]
        # a frame sampled in the middle of a dissolve is a half-and-half blend that may match either side: edges
        # there are exact to half a sampling interval (0.25 s) and a frame
        near = 0.25 + FRAME + 1e-6
        assert scene and abs(scene[0]["end"] - bounds[k + 1]) <= near and abs(scene[0]["start"] - bounds[k]) <= near, (k, scene)
