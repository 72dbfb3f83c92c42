"""Moments that hold together and answers that do not depend on `limit`, with cursor pages, from the CLI and
over HTTP, on Roboflow-style results (vector queries: no model needed) with null frames, real gaps and dips."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.conftest import results_json

runner = CliRunner()
DIM = 512  # the default model's size (`--model roboflow`)
FPS = 2.0
SCENE = 20  # frames per scene; even scenes match the query, odd ones do not
VIDEOS, SCENES = 4, 30
THRESHOLD = "0.5"


def vector(score: float) -> list[float]:
    v = np.zeros(DIM)
    v[0], v[1] = score, np.sqrt(1 - score**2)
    return v.tolist()


def scene_score(video: int, scene: int) -> float:
    return 0.95 - 0.003 * (scene + SCENES * video) if scene % 2 == 0 else 0.1


def write(path, entries: list[tuple[float, list[float] | None]]) -> None:
    frames = [round(t * 24) for t, _ in entries]
    path.write_text(json.dumps(results_json(frames, [round(t, 4) for t, _ in entries], [v for _, v in entries])))


def ingest(store, path) -> None:
    result = runner.invoke(app, ["--store", str(store), "ingest", "results", str(path), "--fps", str(FPS), "--model", "roboflow"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """VIDEOS videos of SCENES scenes, every 10th frame null; `gaps`: a matching run with nothing indexed for 3 s
    in it (a real gap), then one with a stored frame that does not match, then one with two frames missing."""
    root = tmp_path_factory.mktemp("gaps")
    store = root / "store"
    rng = np.random.default_rng(7)
    for video in range(VIDEOS):
        entries = []
        for i in range(SCENES * SCENE):
            score = scene_score(video, i // SCENE) + rng.uniform(-0.001, 0.001)
            entries.append((i / FPS, None if i % 10 == 5 else vector(score)))
        write(root / f"v{video}.json", entries)
        ingest(store, root / f"v{video}.json")
    gaps = [(i / FPS, vector(0.9)) for i in range(10)]  # 0-4.5 s
    gaps += [(i / FPS, vector(0.9)) for i in range(16, 26)]  # 8-12.5 s: nothing indexed from 4.5 to 8 s
    gaps += [(i / FPS, vector(0.9 if i != 35 else 0.1)) for i in range(30, 40)]  # 15-19.5 s, 17.5 s does not match
    gaps += [(i / FPS, vector(0.9)) for i in range(44, 54) if i not in (48, 49)]  # 22-26.5 s, 24 and 24.5 s missing
    write(root / "gaps.json", gaps)
    ingest(store, root / "gaps.json")
    (root / "q.json").write_text(json.dumps(vector(1.0)))
    return root


def search(root, *args: str) -> dict:
    base = ["--store", str(root / "store"), "search", "--vector-file", str(root / "q.json"), "--threshold", THRESHOLD]
    result = runner.invoke(app, [*base, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def spans(answer: dict) -> list[tuple[str, float, float]]:
    return [(r["video_id"], r["start"], r["end"]) for r in answer["results"]]


def test_null_frames_inside_a_scene_do_not_split_its_moment(library):
    found = spans(search(library, "--video-id", "v0", "--limit", "100"))
    wanted = [("v0", scene * SCENE / FPS, (scene + 1) * SCENE / FPS) for scene in range(0, SCENES, 2)]
    assert sorted(found) == [(v, max(a - 0.25, 0.0), b - 0.25) for v, a, b in wanted]


def test_a_real_gap_and_a_stored_frame_that_does_not_match_still_separate_moments(library):
    found = sorted(spans(search(library, "--video-id", "gaps", "--limit", "100")))
    assert found == [
        ("gaps", 0.0, 4.75),  # 3.5 s with nothing indexed: two moments
        ("gaps", 7.75, 12.75),
        ("gaps", 14.75, 17.25),  # the frame at 17.5 s is stored and does not match
        ("gaps", 17.75, 19.75),
        ("gaps", 21.75, 26.75),  # two missing frames are bridged
    ]


def test_the_answer_at_a_limit_is_the_start_of_the_answer_at_any_larger_limit(library):
    full = spans(search(library, "--limit", "1000"))
    assert len(full) == VIDEOS * SCENES // 2 + 5
    for limit in (1, 3, 10, 17, 40):
        assert spans(search(library, "--limit", str(limit))) == full[:limit], limit
    frames = search(library, "--mode", "frames", "--limit", "1000")
    assert [r["score"] for r in frames["results"]] == sorted((r["score"] for r in frames["results"]), reverse=True)


def test_cli_cursor_pages_walk_the_whole_answer(library):
    full = spans(search(library, "--limit", "1000"))
    pages, cursor = [], None
    while True:
        answer = search(library, "--limit", "13", *(["--cursor", cursor] if cursor else []))
        pages += spans(answer)
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == full and len(pages) > 13
    table = runner.invoke(
        app, ["--store", str(library / "store"), "search", "--vector-file", str(library / "q.json"), "--threshold", THRESHOLD]
    )
    assert table.exit_code == 0 and "--cursor " in table.stderr


def test_cli_refuses_a_cursor_of_another_search(library):
    cursor = search(library, "--limit", "2")["next_cursor"]
    args = ["--store", str(library / "store"), "search", "--vector-file", str(library / "q.json"), "--cursor", cursor]
    result = runner.invoke(app, [*args, "--threshold", "0.6"])
    assert result.exit_code != 0 and "another search" in result.output


@pytest.fixture(scope="module")
def client(library):
    copy = library / "store-http"  # Qdrant Edge lets one process hold a store; the CLI tests use the original
    shutil.copytree(library / "store", copy)
    with TestClient(create_app(Settings(store=copy))) as c:
        yield c


def test_http_pages_go_past_the_thousand_result_cap(library, client):
    query = {"vector": vector(1.0), "threshold": float(THRESHOLD), "mode": "frames", "limit": 1000}
    first = client.post("/search", json=query).json()
    assert first["count"] == 1000 and first["next_cursor"]
    second = client.post("/search", json={**query, "cursor": first["next_cursor"]}).json()
    matching = sum(1 for v in range(VIDEOS) for i in range(SCENES * SCENE) if i % 10 != 5 and (i // SCENE) % 2 == 0)
    assert second["count"] == matching + 37 - 1000 and second["next_cursor"] is None
    keys = {(r["video_id"], r["frame"]) for r in first["results"] + second["results"]}
    assert len(keys) == first["count"] + second["count"]
    assert first["results"][-1]["score"] >= second["results"][0]["score"]


def test_http_segment_pages_and_text_formats_carry_the_cursor(client):
    query = {"vector": vector(1.0), "threshold": float(THRESHOLD), "limit": 1000}
    full = spans(client.post("/search", json=query).json())
    page = client.post("/search", json={**query, "limit": 9}).json()
    assert spans(page) == full[:9]
    second = client.post("/search", json={**query, "limit": 9, "cursor": page["next_cursor"]}).json()
    assert spans(second) == full[9:18]
    csv = client.post("/search", json={**query, "limit": 9, "format": "csv"})
    assert csv.headers["x-next-cursor"] == page["next_cursor"]


@pytest.mark.parametrize("cursor", ["nonsense", "eyJvIjotMSwiZiI6IngifQ", "x" * 201])
def test_http_refuses_a_bad_cursor_with_a_4xx(client, cursor):
    answer = client.post("/search", json={"vector": vector(1.0), "cursor": cursor})
    assert 400 <= answer.status_code < 500 and "cursor" in answer.text


def test_http_refuses_a_cursor_of_another_search(client):
    query = {"vector": vector(1.0), "threshold": 0.5, "limit": 2}
    cursor = client.post("/search", json=query).json()["next_cursor"]
    answer = client.post("/search", json={**query, "threshold": 0.6, "cursor": cursor})
    assert answer.status_code == 422 and answer.json()["error"] == "InvalidInput"


def test_a_cursor_deeper_than_the_library_answers_an_empty_last_page(client):
    from framesearch.search.models import SearchRequest
    from framesearch.search.pages import MAX_OFFSET, encode

    for mode in ("segments", "frames"):
        query = {"vector": vector(1.0), "threshold": 0.5, "mode": mode}
        cursor = encode(MAX_OFFSET, SearchRequest.model_validate(query))
        answer = client.post("/search", json={**query, "cursor": cursor})
        assert answer.status_code == 200 and answer.json()["count"] == 0 and answer.json()["next_cursor"] is None
