"""Segments are whole moments: a scene of thousands of matching frames comes back as one segment with its real
edges, and the other matching videos still make the top results (stores built with `framesearch ingest results`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from tests.conftest import results_json

runner = CliRunner()
DIM = 16
FPS = 3.0


def near(target: np.ndarray, count: int, rng: np.random.Generator, spread: float) -> np.ndarray:
    """`count` unit vectors around `target` (cosine falls as `spread` grows)."""
    v = target + rng.normal(size=(count, DIM)) * spread
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def video(path, length: int, matches: dict[range, float], target: np.ndarray, rng: np.random.Generator) -> None:
    """A results file of `length` frames at FPS: frames in each range near `target`, the rest far from it."""
    far = rng.normal(size=(length, DIM))
    far -= np.outer(far @ target, target) + 0.5 * target  # negative cosine with the target
    vectors = far / np.linalg.norm(far, axis=1, keepdims=True)
    for frames, spread in matches.items():
        vectors[frames.start : frames.stop] = near(target, len(frames), rng, spread)
    frames = list(range(length))
    path.write_text(json.dumps(results_json(frames, [round(f / FPS, 4) for f in frames], vectors.tolist())))


@pytest.fixture
def library(tmp_path):
    rng = np.random.default_rng(7)
    target = np.zeros(DIM)
    target[0] = 1.0
    files = tmp_path / "results"
    files.mkdir()
    video(files / "long.json", 3000, {range(500, 2500): 0.02, range(2800, 2900): 0.06}, target, rng)
    video(files / "bird.json", 90, {range(30, 60): 0.08}, target, rng)
    video(files / "creek.json", 90, {range(10, 25): 0.1}, target, rng)
    for i in range(4):
        video(files / f"other{i}.json", 90, {}, target, rng)
    store = tmp_path / "store"
    result = runner.invoke(
        app,
        [
            "--store",
            str(store),
            "ingest",
            "results",
            *map(str, sorted(files.iterdir())),
            "--model",
            "clip/long",
            "--fps",
            str(FPS),
        ],
    )
    assert result.exit_code == 0, result.output
    query = tmp_path / "query.json"
    query.write_text(json.dumps(target.tolist()))
    return store, query


def search(store, query, *args: str) -> dict:
    result = runner.invoke(
        app, ["--store", str(store), "search", "--vector-file", str(query), "--threshold", "0.8", "--json", "--frames", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_long_scene_is_one_segment_with_its_edges_and_other_videos_still_rank(library):
    store, query = library
    answer = search(store, query, "--limit", "5")
    segments = answer["results"]
    long = [s for s in segments if s["video_id"] == "long"]
    scene = max(long, key=lambda s: s["frame_count"])
    assert scene["frame_count"] == 2000 and [f["frame"] for f in scene["frames"]] == list(range(500, 2500))
    assert abs(scene["start"] - 500 / FPS) <= 1 / FPS and abs(scene["end"] - 2499 / FPS) <= 1 / FPS  # edges (snapped)
    assert segments[0] == scene  # its best frame is the best of all
    assert {"bird", "creek"} <= {s["video_id"] for s in segments}
    bird = next(s for s in segments if s["video_id"] == "bird")
    assert [f["frame"] for f in bird["frames"]] == list(range(30, 60))
    later = [s for s in long if s is not scene]
    assert later and [f["frame"] for f in later[0]["frames"]] == list(range(2800, 2900))
    assert answer["count"] == len(segments) == 4  # every moment above the threshold, nothing else


def test_summaries_without_frames_are_the_moments_with_frames_less_their_frames(library):
    """Without `--frames` a moment is built from its summary (search/retrieval.py `Run.segment`): the same start,
    end, score, peak and frame count as when its frames are listed."""
    store, query = library
    listed = search(store, query, "--limit", "5")["results"]
    result = runner.invoke(app, ["--store", str(store), "search", "--vector-file", str(query), "--threshold", "0.8", "--json"])
    summaries = json.loads(result.stdout)["results"]
    assert all(s["frames"] is None for s in summaries)
    assert summaries == [{**s, "frames": None} for s in listed]


def test_segments_respect_the_time_range_and_the_limit(library):
    store, query = library
    segments = search(store, query, "--limit", "1", "--from", "300", "--to", "400")["results"]
    assert len(segments) == 1 and segments[0]["video_id"] == "long"
    times = [f["timestamp"] for f in segments[0]["frames"]]
    assert (times[0], times[-1], len(times)) == (300.0, 400.0, 301)


def test_frames_mode_still_returns_single_frames(library):
    store, query = library
    frames = search(store, query, "--limit", "7", "--mode", "frames")["results"]
    assert len(frames) == 7 and all(f["score"] >= 0.8 for f in frames)


def peaked(path, length: int, moments: list[tuple[int, int, float]], target: np.ndarray) -> np.ndarray:
    """A results file whose frames score exactly cos(angle) against `target`: each moment (centre, half width, top)
    scores `top` at its centre, falling steadily to 0.85 at its edges; every other frame scores about -0.4.
    Returns the scores."""
    other = np.zeros(DIM)
    other[1] = 1.0
    angles = np.full(length, 2.0)
    for centre, half, top in moments:
        frames = np.arange(centre - half, centre + half + 1)
        angles[frames] = np.arccos(top) + (np.arccos(0.85) - np.arccos(top)) * np.abs(frames - centre) / half
    vectors = np.outer(np.cos(angles), target) + np.outer(np.sin(angles), other)
    frames = list(range(length))
    path.write_text(json.dumps(results_json(frames, [round(f / FPS, 4) for f in frames], vectors.tolist())))
    return np.cos(angles)


@pytest.mark.parametrize(
    "moments",
    [
        # one scene far longer than the span searched around its seeds: it grows, and the search sent ahead for the
        # next round finds only its own frames (cut by K): searched again without them, the bird still ranks
        {"long": [(1500, 1300, 0.999)], "bird": [(45, 15, 0.95)]},
        # a scene a little longer than its span: the search ahead finds its last frames and the bird's whole moment
        # (not cut): the scene's frames are dropped from it and the bird's moment is complete
        {"mid": [(500, 90, 0.999)], "bird": [(45, 2, 0.95)]},
        # several moments per video, fewer than the limit
        {"a": [(300, 40, 0.999), (900, 150, 0.97)], "b": [(200, 100, 0.98), (600, 3, 0.9)], "c": []},
    ],
    ids=["long scene", "scene past its span", "several"],
)
def test_segments_are_exactly_the_runs_above_the_threshold(tmp_path, moments):
    """Whatever path the retrieval takes, the answer is every run of frames above the threshold, whole, once."""
    target = np.zeros(DIM)
    target[0] = 1.0
    (tmp_path / "results").mkdir()
    expected = {}
    for name, found in moments.items():
        scores = peaked(tmp_path / "results" / f"{name}.json", 3000 if name == "long" else 1200, found, target)
        above = np.flatnonzero(scores >= 0.8)
        runs = np.split(above, np.flatnonzero(np.diff(above) > 1) + 1) if above.size else []
        expected.update({(name, int(r[0])): list(map(int, r)) for r in runs})
    store = tmp_path / "store"
    files = sorted(map(str, (tmp_path / "results").iterdir()))
    done = runner.invoke(app, ["--store", str(store), "ingest", "results", *files, "--model", "clip/peaks", "--fps", str(FPS)])
    assert done.exit_code == 0, done.output
    query = tmp_path / "query.json"
    query.write_text(json.dumps(target.tolist()))
    segments = search(store, query, "--limit", "5")["results"]
    found = {(s["video_id"], s["frames"][0]["frame"]): [f["frame"] for f in s["frames"]] for s in segments}
    assert found == expected and len(segments) == len(expected)


def test_frames_kept_between_searches_follow_a_new_version_of_a_video(tmp_path):
    """The service keeps each reached video's frames and vectors (search/frame_tables.py): a video indexed again
    (longer matching scene) is searched as it is now, not as it was kept."""
    from fastapi.testclient import TestClient

    from framesearch.search.frame_tables import TABLES
    from framesearch.service.app import create_app
    from framesearch.settings import Settings

    rng = np.random.default_rng(11)
    target = np.zeros(DIM)
    target[0] = 1.0
    video(tmp_path / "clip.json", 90, {range(10, 20): 0.02}, target, rng)
    video(tmp_path / "other.json", 90, {range(40, 45): 0.02}, target, rng)
    with TestClient(create_app(Settings(store=tmp_path / "store"))) as client:
        for name in ("clip", "other"):
            body = (tmp_path / f"{name}.json").read_bytes()
            assert client.post(f"/videos/{name}/results?model=clip/kept&fps=3", content=body).status_code in (200, 201)
        ask = {"vector": target.tolist(), "threshold": 0.8}

        def moments() -> dict[str, int]:
            found = client.post("/search", json=ask).json()["results"]
            return {m["video_id"]: m["frame_count"] for m in found}

        assert moments() == {"clip": 10, "other": 5}
        reads = TABLES.reads
        assert moments() == {"clip": 10, "other": 5} and TABLES.reads == reads  # kept
        video(tmp_path / "clip.json", 90, {range(10, 50): 0.02}, target, rng)
        body = (tmp_path / "clip.json").read_bytes()
        assert client.post("/videos/clip/results?model=clip/kept&fps=3", content=body).status_code in (200, 201)
        assert moments() == {"clip": 40, "other": 5}


def test_a_write_to_one_video_keeps_the_frames_kept_of_the_others(tmp_path):
    """After an upload of another video, a search reads only that video's frames: the others' tables stand (their
    records did not change); the new video's moment is found."""
    from fastapi.testclient import TestClient

    from framesearch.search.frame_tables import TABLES
    from framesearch.service.app import create_app
    from framesearch.settings import Settings

    rng = np.random.default_rng(12)
    target = np.zeros(DIM)
    target[0] = 1.0
    for name, frames in (("a", range(10, 20)), ("b", range(40, 45)), ("c", range(60, 80))):
        video(tmp_path / f"{name}.json", 90, {frames: 0.02}, target, rng)
    with TestClient(create_app(Settings(store=tmp_path / "store"))) as client:

        def upload(name: str) -> None:
            body = (tmp_path / f"{name}.json").read_bytes()
            assert client.post(f"/videos/{name}/results?model=clip/kept&fps=3", content=body).status_code in (200, 201)

        def moments() -> dict[str, int]:
            found = client.post("/search", json={"vector": target.tolist(), "threshold": 0.8}).json()["results"]
            return {m["video_id"]: m["frame_count"] for m in found}

        upload("a")
        upload("b")
        assert moments() == {"a": 10, "b": 5}
        reads = TABLES.reads
        upload("c")
        assert moments() == {"a": 10, "b": 5, "c": 20}
        assert TABLES.reads == reads + 1  # only the new video's frames were read
