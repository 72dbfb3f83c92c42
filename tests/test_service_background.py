"""The service never holds its event loop for engine work: the Qdrant Edge store lives in a child process,
large uploads are parsed in a worker process, the search index is built in the background after uploads and
jobs, and /healthz and searches answer (correctly) while it builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from framesearch.settings import Settings
from framesearch.store.schema import INDEX
from tests.conftest import results_json
from tests.helpers.server import running_service, wait_until


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def upload(base: str, video_id: str, vectors: np.ndarray) -> httpx.Response:
    frames = list(range(len(vectors)))
    body = json.dumps(results_json(frames, [round(f / 3, 4) for f in frames], vectors.round(4).tolist()))
    return httpx.post(
        f"{base}/videos/{video_id}/results",
        params={"model": "clip/bg", "fps": 3},
        content=body,
        headers={"content-type": "application/json"},
        timeout=300,
    )


def health(base: str) -> dict:
    return httpx.get(f"{base}/healthz", timeout=30).json()


@pytest.mark.slow
def test_served_edge_store_lives_in_a_child_process_and_healthz_answers_while_the_index_builds(tmp_path):
    vectors = np.random.default_rng(5).normal(size=(10_000, 128))  # random vectors: a build of several seconds
    with running_service({"FRAMESEARCH_STORE": str(tmp_path / "s")}, tmp_path / "serve.log") as service:
        holder = int((tmp_path / "s" / "frames" / "lock").read_text().split()[1])
        assert holder != service.proc.pid and holder in children(service.proc.pid)
        answer = upload(service.base, "big", vectors)  # 11 MB of JSON: parsed in a worker process
        assert answer.status_code == 201, answer.text
        assert len(children(service.proc.pid)) >= 2  # the store process and the parser process
        building = wait_until(lambda: (h := health(service.base))["indexing"] and h, 60, "a background index build")
        assert building["frames"] == 10_000  # answered while the store process is busy building
        query = vectors[4321] / np.linalg.norm(vectors[4321])
        found = httpx.post(
            f"{service.base}/search", json={"vector": query.tolist(), "mode": "frames", "limit": 1}, timeout=120
        ).json()["results"]
        assert (found[0]["video_id"], found[0]["frame"]) == ("big", 4321)  # correct during (or after) the build
        done = wait_until(lambda: not (h := health(service.base))["indexing"] and h, 120, "the build to end")
        assert done["indexed_frames"] == 10_000


def test_the_app_builds_the_index_in_the_background_after_an_upload(tmp_path):
    from framesearch.service.app import create_app

    count = INDEX.index_min_frames + 500
    vectors = np.random.default_rng(1).normal(size=(count, 8))
    frames = list(range(count))
    with TestClient(create_app(Settings(store=tmp_path / "s"))) as client:
        assert client.get("/healthz").json()["indexed_frames"] == 0
        answer = client.post(
            "/videos/v/results", params={"model": "clip/bg"}, json=results_json(frames, [f / 3 for f in frames], vectors.tolist())
        )
        assert answer.status_code == 201, answer.text
        wait_until(lambda: client.get("/healthz").json()["indexed_frames"] == count, 60, "the background index build")


def test_uploads_are_streamed_to_disk_and_removed(tmp_path):
    from framesearch.service.app import create_app

    with TestClient(create_app(Settings(store=tmp_path / "s"))) as client:
        body = results_json([0, 12], [0.0, 0.5], [[1.0, 0.0], [0.0, 1.0]])
        assert client.post("/videos/a/results", params={"model": "clip/bg"}, json=body).status_code == 201
        bad = client.post("/videos/b/results", content=b"{broken", headers={"content-type": "application/json"})
        assert bad.status_code == 422 and "results upload for 'b'" in bad.json()["detail"]
        assert os.listdir(tmp_path / "s" / "cache" / "uploads") == []


def test_a_hosted_store_forwards_calls_and_errors_to_its_process(tmp_path):
    from framesearch.errors import NotFound, StoreLocked
    from framesearch.store.edge import EdgeStore
    from framesearch.store.open import open_service_store
    from framesearch.store.schema import FramePoint, VideoRecord

    with open_service_store(Settings(store=tmp_path / "s")) as store:
        store.ensure_collection("m/1", 2)
        with store.run("a") as run:  # one committed ingest run, as ingest/index.py writes it, step by step
            run.write([FramePoint("a", 0, 0.0, np.asarray([1.0, 0.0]), 2.0, "m/1", "results")])
            assert store.frame_count() == 0  # not committed yet: invisible
            run.commit(VideoRecord(video_id="a", model="m/1", source="results", frames=1, ingest_run=run.id))
        info = store.info()
        assert info is not None and info.model == "m/1" and store.frame_count() == 1
        assert [h.video_id for h in store.search(np.asarray([1.0, 0.0]), limit=1)] == ["a"]
        with pytest.raises(NotFound, match="'b'"):
            store.get_video("b")
        with pytest.raises(StoreLocked):
            EdgeStore(tmp_path / "s")  # the store process holds it
    with EdgeStore(tmp_path / "s") as again:  # and lets it go when closed
        assert again.frame_count() == 1


def test_a_hosted_store_whose_process_died_is_started_again_with_its_data(tmp_path):
    import os
    import signal

    from framesearch.store.hosted import HostedStore
    from framesearch.store.schema import FramePoint, VideoRecord

    with HostedStore(Settings(store=tmp_path / "s")) as store:
        store.ensure_collection("m/1", 2)
        with store.run("a") as run:
            run.write([FramePoint("a", 0, 0.0, np.asarray([1.0, 0.0]), 2.0, "m/1", "results")])
            run.commit(VideoRecord(video_id="a", model="m/1", source="results", frames=1, ingest_run=run.id))
        unfinished = store.begin_run("b")  # a write in progress when the store process dies
        store.upsert_frames([FramePoint("b", 0, 0.0, np.asarray([0.0, 1.0]), 2.0, "m/1", "results")], unfinished)
        os.kill(store._process.pid, signal.SIGKILL)
        store._process.join(timeout=10)
        assert [v.video_id for v in store.list_videos()] == ["a"]  # a new store process answers
        assert store.frame_count() == 1 and store.stored_points() == 1  # b's unfinished write was rolled back
        assert [h.video_id for h in store.search(np.asarray([0.0, 1.0]), limit=5, threshold=-1.0)] == ["a"]


def test_a_hosted_ingest_makes_one_call_per_step_and_refreshes_only_what_it_changes(tmp_path):
    """1,024 frames in 4 batches: one call to the store process per step of the run, and the answers the proxy
    keeps for health checks refreshed once each, with the answers of the calls that change them."""
    from framesearch.ingest.index import index_frames
    from framesearch.store.hosted import HostedStore
    from framesearch.store.schema import FramePoint, VideoRecord

    rng = np.random.default_rng(0)
    points = [FramePoint("v", i, i / 2, rng.normal(size=8).astype(np.float32), 2.0, "m/1", "results") for i in range(1024)]
    batches = (points[i : i + 256] for i in range(0, 1024, 256))
    with HostedStore(Settings(store=tmp_path / "s")) as store:
        record = VideoRecord(video_id="v", model="m/1", source="results", frames=0)
        index_frames(store, record, batches, dim=8, expected_frames=1024)
        # ensure_space: the disk checked again right before the commit (another process may have filled it)
        steps = {"ensure_collection": 1, "begin_run": 1, "upsert_frames": 4, "ensure_space": 1, "commit_run": 1, "end_run": 1}
        assert store.calls == steps
        assert store.refreshed == {"info": 1, "frame_count": 1, "index_status": 1}
        kept_version = store.library_version()
        assert store._kept["frame_count"] == 1024 and store._kept["info"].dim == 8
        assert store._kept["index_status"].points == 1024
        store.search(np.ones(8), limit=3)  # a read changes nothing the proxy keeps, nor the library version
        assert store.refreshed == {"info": 1, "frame_count": 1, "index_status": 1}
        assert store.library_version() == kept_version
        assert store.delete_video("v") == 1024
        assert store.library_version() != kept_version and store._kept["frame_count"] == 0


@pytest.mark.slow
def test_a_hosted_store_answers_searches_and_writes_while_its_index_builds(tmp_path):
    """The index is built on a copy of the frames shard by a child process and swapped in: the store process answers
    other calls during the build (they used to wait for all of it), and a frame written meanwhile is not lost."""
    import threading

    from framesearch.ingest.index import index_frames
    from framesearch.store.hosted import HostedStore
    from framesearch.store.schema import FramePoint, VideoRecord

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(12_000, 128)).astype(np.float32)  # random vectors: a build of several seconds
    points = [FramePoint("v", i, i / 3, vectors[i], 3.0, "m/1", "results") for i in range(len(vectors))]
    with HostedStore(Settings(store=tmp_path / "s")) as store:
        index_frames(store, VideoRecord(video_id="v", model="m/1", source="results", frames=0), iter([points]), dim=128)
        built, seen = [], []
        builder = threading.Thread(target=lambda: built.append(store.build_index(progress=seen.append)))
        builder.start()
        wait_until(lambda: store.calls["__build_poll__"] >= 1, 60, "the build to start")
        answers = []
        while builder.is_alive() and len(answers) < 5:
            answers.append(store.search(vectors[7], limit=1)[0].frame)
        during = builder.is_alive()
        extra = [FramePoint("w", 0, 0.0, -vectors[7], 3.0, "m/1", "results")]
        index_frames(store, VideoRecord(video_id="w", model="m/1", source="results", frames=0), iter([extra]), dim=128)
        builder.join(timeout=600)
        assert during and answers == [7] * 5  # five searches answered, correctly, before the build ended
        assert built and seen[-1] == built[0] and store.frame_count() == 12_001
        assert [h.video_id for h in store.search(-vectors[7], limit=1)] == ["w"]  # the write during the build is kept
        assert store.build_index().indexed == 12_001
        assert not list((tmp_path / "s" / "frames").glob(".building-*"))  # no copy left behind


PROBE = """
import os, sys

def _numpy_loads(event, args, _seen=[]):
    if event == "import" and args[0] == "numpy" and not _seen:
        _seen.append(True)
        with open(os.path.join(os.environ["BLAS_PROBE_DIR"], str(os.getpid())), "w") as out:
            out.write(os.environ.get("OPENBLAS_NUM_THREADS", "unset"))

sys.addaudithook(_numpy_loads)
"""


@pytest.mark.slow
def test_serve_and_its_store_process_start_numpy_with_one_blas_thread(tmp_path):
    """OpenBLAS reads its thread count when numpy loads: `serve` (whose parallelism is its requests) and the store
    process it spawns both load it with one thread, unless the user chose a number (tests/test_startup.py)."""
    from framesearch.cli.main import BLAS_THREAD_VARS
    from tests.helpers.server import Service

    probe = tmp_path / "probe"
    (probe / "out").mkdir(parents=True)
    (probe / "sitecustomize.py").write_text(PROBE)  # records OPENBLAS_NUM_THREADS as each process imports numpy
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s"), "PYTHONPATH": str(probe), "BLAS_PROBE_DIR": str(probe / "out")}
    service = Service(env, tmp_path / "serve.log")
    for name in BLAS_THREAD_VARS:
        service.env.pop(name, None)
    service.start()
    try:
        holder = int((tmp_path / "s" / "frames" / "lock").read_text().split()[1])
        assert holder in children(service.proc.pid)
        seen = {int(p.name): p.read_text() for p in (probe / "out").iterdir()}
        assert seen.get(service.proc.pid) == "1" and seen.get(holder) == "1", seen
    finally:
        service.stop()


def test_a_build_cut_short_between_the_swaps_renames_is_put_right_when_the_store_opens(tmp_path, colour_results):
    """A crash after the live frames shard was moved aside and before the built copy took its place: the store opens
    with the live shard back, and copies left by builds are removed."""
    from framesearch.ingest.index import ingest_results
    from framesearch.ingest.results import load_results_file
    from framesearch.store.edge import EdgeStore
    from framesearch.store.edge_build import BUILDING, SWAPPED

    with EdgeStore(tmp_path / "s") as store:
        ingest_results(store, load_results_file(colour_results("a", [("red", 2.0)])), "a", model="m")
        count = store.frame_count()
    root = tmp_path / "s" / "frames"
    (root / "frames").rename(root / SWAPPED)
    (root / f"{BUILDING}x").mkdir()
    with EdgeStore(tmp_path / "s") as store:
        assert store.frame_count() == count
    assert (root / "frames").is_dir() and not (root / SWAPPED).exists() and not (root / f"{BUILDING}x").exists()
