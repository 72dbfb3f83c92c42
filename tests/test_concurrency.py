"""Concurrent writers and readers: one writer per video id (409 VideoBusy for the others), searches during
an ingest see only committed versions, and a second process on an embedded store gets a clear error."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.store.base import QdrantStore
from tests.helpers.crash import check, results_file
from tests.helpers.server import ROOT, running_service, wait_until

QUERY = {"vector": [1.0] * 8, "threshold": -1, "limit": 1000, "mode": "frames"}


def post(client, video_id: str, path):
    return client.post(f"/videos/{video_id}/results", content=path.read_bytes(), headers={"content-type": "application/json"})


def frames_found(client, video_id: str) -> list[int]:
    answer = client.post("/search", json={**QUERY, "video_id": [video_id]})
    assert answer.status_code == 200, answer.text
    return sorted(r["frame"] for r in answer.json()["results"])


@pytest.fixture
def paused_write(monkeypatch):
    """Once armed, the next frame write of any store pauses after writing, until released."""
    original = QdrantStore.upsert_frames
    armed, entered, release = threading.Event(), threading.Event(), threading.Event()

    def upsert(self, frames, run):
        original(self, frames, run)
        if armed.is_set():
            armed.clear()
            entered.set()
            assert release.wait(30), "the paused write was never released"

    monkeypatch.setattr(QdrantStore, "upsert_frames", upsert)
    yield armed, entered, release
    release.set()


def test_while_a_video_is_written_other_writes_to_it_get_409_and_searches_see_the_old_version(tmp_path, paused_write):
    armed, entered, release = paused_write
    old = results_file(tmp_path, "old", 300, step=12, seed=1)
    new = results_file(tmp_path, "new", 280, step=7, seed=2)
    other = results_file(tmp_path, "other", 40, seed=3)
    with TestClient(create_app(Settings(store=tmp_path / "store"))) as client:
        assert post(client, "v", old).status_code == 201
        armed.set()
        answers: list = []
        writer = threading.Thread(target=lambda: answers.append(post(client, "v", new)))
        writer.start()
        assert entered.wait(30), "the second upload never started writing"

        busy = post(client, "v", other)
        assert busy.status_code == 409 and busy.json()["error"] == "VideoBusy" and "'v'" in busy.json()["detail"]
        assert client.delete("/videos/v").status_code == 409
        assert frames_found(client, "v") == [i * 12 for i in range(300)]  # the old version, whole
        assert client.get("/videos/v").json()["frames"] == 300
        assert client.get("/healthz").json()["frames"] == 300
        assert post(client, "w", other).status_code == 201  # other videos are free

        release.set()
        writer.join(30)
        assert answers[0].status_code == 201 and answers[0].json()["frames"] == 280
        assert frames_found(client, "v") == [i * 7 for i in range(280)]
        assert client.get("/healthz").json()["frames"] == 320
    assert check(tmp_path / "store")[0] == 0


@pytest.mark.slow
def test_simultaneous_uploads_to_one_id_never_corrupt_it_and_searches_never_see_a_mix(tmp_path):
    sizes = {"x": 3000, "y": 2600}
    files = {name: results_file(tmp_path, name, n, dim=8, seed=i) for i, (name, n) in enumerate(sizes.items())}
    bodies = {name: path.read_bytes() for name, path in files.items()}
    store = tmp_path / "store"
    seen: set[int] = set()
    statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()
    with running_service({"FRAMESEARCH_STORE": str(store)}, tmp_path / "serve.log") as service:

        def upload(name: str) -> None:
            answer = httpx.post(
                f"{service.base}/videos/v/results",
                content=bodies[name],
                headers={"content-type": "application/json"},
                timeout=120,
            )
            statuses.append(answer.status_code)
            if answer.status_code not in (201, 409) or (answer.status_code == 409 and "VideoBusy" not in answer.text):
                failures.append(f"upload of {name}: {answer.status_code} {answer.text}")

        def watch() -> None:
            while not stop.is_set():
                health = httpx.get(f"{service.base}/healthz", timeout=30)
                if health.status_code != 200:
                    failures.append(f"healthz during the uploads: {health.status_code} {health.text}")
                    return
                seen.add(health.json()["frames"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for _ in range(4):
                pair = [threading.Thread(target=upload, args=(name,)) for name in sizes]
                for thread in pair:
                    thread.start()
                for thread in pair:
                    thread.join(120)
        finally:
            stop.set()
            watcher.join(30)
        assert not failures, failures
        record = httpx.get(f"{service.base}/videos/v").json()
        assert record["frames"] in sizes.values()
        assert httpx.get(f"{service.base}/healthz").json()["frames"] == record["frames"]
    assert statuses.count(201) >= 4, statuses  # in each round at least the first one in wins
    assert seen <= {0, *sizes.values()}, f"a search saw a mix of versions: {sorted(seen)}"
    code, report = check(store)
    assert code == 0 and report["stored_points"] == record["frames"], report


@pytest.mark.slow
def test_a_second_process_on_an_embedded_store_gets_one_clear_line(tmp_path):
    store = tmp_path / "store"
    with running_service({"FRAMESEARCH_STORE": str(store)}, tmp_path / "serve.log") as service:
        wait_until(lambda: (store / "frames" / "lock").exists(), what="the service holding the store")
        other = subprocess.run(
            [sys.executable, "-m", "framesearch", "--store", str(store), "videos", "list"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert httpx.get(f"{service.base}/healthz").status_code == 200
    assert other.returncode == 1
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "in use by pid" in lines[0], other.stderr
