"""The library a page at a time: GET /videos (limit, cursor, q, under, sort, total) and `videos list`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.ingest.index import index_frames
from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.store.edge import EdgeStore
from framesearch.store.schema import FramePoint, VideoRecord

VIDEOS = 250
MODEL = "tests/tiny-colour-clip"


def name(i: int) -> str:
    return f"{'holidays' if i % 5 == 0 else 'work'}/v{i:03d}.mp4"


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip) -> Settings:
    """A store of 250 one-frame videos (ids under holidays/ and work/, durations 1..250 s), written by the product's
    own indexing."""
    folder = tmp_path_factory.mktemp("pages") / "store"
    rng = np.random.default_rng(3)
    with EdgeStore(folder) as store:
        for i in range(VIDEOS):
            vector = rng.standard_normal(tiny_clip.dim).astype(np.float32)
            record = VideoRecord(
                video_id=name(i), model=MODEL, source="results", frames=0, duration=float(i + 1), path=f"/m/{name(i)}"
            )
            index_frames(store, record, [[FramePoint(name(i), 0, 0.0, vector, 1.0, MODEL, "results")]])
    return Settings(store=folder, model=str(tiny_clip.model_path))


@pytest.fixture(scope="module")
def vectors(tiny_clip) -> dict[str, np.ndarray]:
    """The unit vector of each video's one frame, as the library fixture wrote them (the same generator)."""
    rng = np.random.default_rng(3)
    made = {name(i): rng.standard_normal(tiny_clip.dim).astype(np.float32) for i in range(VIDEOS)}
    return {k: v / np.linalg.norm(v) for k, v in made.items()}


def test_get_videos_pages_by_cursor_with_a_total(library):
    with TestClient(create_app(library)) as client:
        first = client.get("/videos").json()
        assert (first["count"], first["total"], first["next_cursor"]) == (100, VIDEOS, "100")
        seen, cursor = [v["video_id"] for v in first["videos"]], first["next_cursor"]
        while cursor:
            page = client.get("/videos", params={"cursor": cursor}).json()
            seen += [v["video_id"] for v in page["videos"]]
            cursor = page["next_cursor"]
        assert seen == sorted(name(i) for i in range(VIDEOS))  # every video once, by name
        small = client.get("/videos", params={"limit": 7, "sort": "duration"}).json()
        assert [v["duration"] for v in small["videos"]] == [250.0 - k for k in range(7)] and small["total"] == VIDEOS
        found = client.get("/videos", params={"q": "HOLIDAYS/v01"}).json()  # any case, in ids or paths
        assert [v["video_id"] for v in found["videos"]] == ["holidays/v010.mp4", "holidays/v015.mp4"]
        under = client.get("/videos", params={"under": "holidays/", "limit": 1000}).json()
        assert under["total"] == under["count"] == 50 and under["next_cursor"] is None
        assert client.get("/videos", params={"q": "nothing-like-it"}).json() == {
            "count": 0, "total": 0, "next_cursor": None, "videos": []
        }  # fmt: skip
        for bad in ({"cursor": "abc"}, {"limit": 0}, {"limit": 100_000}, {"sort": "colour"}):
            answer = client.get("/videos", params=bad)
            assert answer.status_code == 422 and answer.json()["error"] == "InvalidInput", bad


def test_videos_list_shows_a_page_and_says_how_many_more(library):
    runner = CliRunner()
    base = ["--store", str(library.store), "videos", "list"]
    table = runner.invoke(app, [*base], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and f"100 of {VIDEOS} videos shown" in table.output
    assert "holidays/v000.mp4" in table.output and "work/v249.mp4" not in table.output
    every = json.loads(runner.invoke(app, [*base, "--json"]).stdout)
    assert len(every) == VIDEOS  # --json lists all unless told
    longest = json.loads(runner.invoke(app, [*base, "--json", "--limit", "3", "--sort", "duration"]).stdout)
    assert [v["video_id"] for v in longest] == ["work/v249.mp4", "work/v248.mp4", "work/v247.mp4"]
    matched = runner.invoke(app, [*base, "--match", "v123", "--json"])
    assert [v["video_id"] for v in json.loads(matched.stdout)] == ["work/v123.mp4"]
    none = runner.invoke(app, [*base, "--match", "zzz"])
    assert none.exit_code == 0 and "no videos match" in none.output
    wrong = runner.invoke(app, [*base, "--sort", "colour"])
    assert wrong.exit_code == 1 and "--sort: one of name, indexed, duration" in wrong.output


def brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, ids, k: int) -> list[str]:
    ranked = sorted(ids, key=lambda v: -float(vectors[v] @ query))
    return ranked[:k]


def test_a_search_under_a_prefix_or_over_many_ids_is_what_brute_force_finds(library, vectors, tmp_path):
    query = np.random.default_rng(9).standard_normal(len(next(iter(vectors.values())))).astype(np.float32)
    query /= np.linalg.norm(query)
    body = {"vector": query.tolist(), "mode": "frames", "threshold": -1.0, "limit": 10}
    holidays = [v for v in vectors if v.startswith("holidays/")]
    many = [name(i) for i in range(0, VIDEOS, 2)][:120]
    with TestClient(create_app(library)) as client:
        under = client.post("/search", json={**body, "under": "holidays/"}).json()
        assert [r["video_id"] for r in under["results"]] == brute_force(vectors, query, holidays, 10)
        listed = client.post("/search", json={**body, "video_id": many}).json()
        assert [r["video_id"] for r in listed["results"]] == brute_force(vectors, query, many, 10)
        both = client.post("/search", json={**body, "under": "work/", "video_id": many}).json()
        work_many = [v for v in many if v.startswith("work/")]
        assert [r["video_id"] for r in both["results"]] == brute_force(vectors, query, work_many, 10)
        nothing = client.post("/search", json={**body, "under": "elsewhere/"}).json()
        assert nothing["count"] == 0 and nothing["results"] == []
        assert client.get("/search", params={"q": "red", "under": ""}).status_code == 422
    vector_file = tmp_path / "q.json"
    vector_file.write_text(json.dumps(query.tolist()))
    args = ["--store", str(library.store), "search", "--vector-file", str(vector_file), "--under", "holidays/"]
    printed = CliRunner().invoke(app, [*args, "--mode", "frames", "--threshold", "-1", "--limit", "10", "--json"])
    assert printed.exit_code == 0, printed.output
    assert [r["video_id"] for r in json.loads(printed.stdout)["results"]] == brute_force(vectors, query, holidays, 10)
