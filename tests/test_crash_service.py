"""Kill tests of the service: SIGKILL during a results upload and during a local ingest job.

After the kill, a restarted service lists, counts (/healthz) and searches only committed videos,
answers the upload again (a retry converges: no duplicates), resumes the job to the clean result,
and `store check` finds the store consistent.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.crash import check, crash_env, library, results_file
from tests.helpers.server import Service, wait_until

pytestmark = pytest.mark.slow

BASE = "framesearch.store.base:QdrantStore"


def post_results(service: Service, video_id: str, path) -> httpx.Response:
    return httpx.post(
        f"{service.base}/videos/{video_id}/results",
        content=path.read_bytes(),
        headers={"content-type": "application/json"},
        timeout=60,
    )


def searchable(service: Service, dim: int = 8) -> dict[str, int]:
    body = {"vector": [1.0] * dim, "threshold": -1, "limit": 1000, "mode": "frames"}
    answer = httpx.post(f"{service.base}/search", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    counts: dict[str, int] = {}
    for hit in answer.json()["results"]:
        counts[hit["video_id"]] = counts.get(hit["video_id"], 0) + 1
    return counts


def served_library(service: Service) -> dict[str, int]:
    return {v["video_id"]: v["frames"] for v in httpx.get(f"{service.base}/videos").json()["videos"]}


def killed_during(service: Service, request) -> None:
    """Send `request()`, which the crash point kills the service in the middle of."""
    with pytest.raises(httpx.TransportError):
        request()
    assert service.proc.wait(timeout=30) == -9


def restart_without_crash(service: Service) -> None:
    service.env.pop("FRAMESEARCH_TEST_CRASH")
    service.start()


@pytest.mark.parametrize(
    "crash, after_kill",
    [
        (f"{BASE}.upsert_frames:3", {"b": 260}),  # "a" half written: invisible, rolled back on restart
        (f"{BASE}.commit_run:2", {"a": 300, "b": 260}),  # "a" committed but never answered: the retry replaces it
    ],
)
def test_a_killed_results_upload(tmp_path, crash, after_kill):
    a, b = results_file(tmp_path, "a", 300, seed=1), results_file(tmp_path, "b", 260, seed=2)
    store = tmp_path / "store"
    service = Service({"FRAMESEARCH_STORE": str(store), **crash_env(crash)}, tmp_path / "serve.log")
    try:
        service.start()
        assert post_results(service, "b", b).status_code == 201  # two write batches
        killed_during(service, lambda: post_results(service, "a", a))
        restart_without_crash(service)
        assert served_library(service) == after_kill
        assert searchable(service) == after_kill
        assert httpx.get(f"{service.base}/healthz").json()["frames"] == sum(after_kill.values())
        retried = post_results(service, "a", a)
        assert retried.status_code == 201 and retried.json()["frames"] == 300
        assert served_library(service) == searchable(service) == {"a": 300, "b": 260}
        assert httpx.get(f"{service.base}/healthz").json()["frames"] == 560
    finally:
        service.stop()
    code, report = check(store)
    assert code == 0 and report["stored_points"] == 560, report


def test_a_killed_local_job_resumes_to_the_clean_result(tmp_path, tiny_clip_dir, sample_video):
    store = tmp_path / "store"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": str(tiny_clip_dir), **crash_env(f"{BASE}.upsert_frames:2")}
    service = Service(env, tmp_path / "serve.log")
    try:
        service.start()
        with sample_video.open("rb") as handle:
            posted = httpx.post(
                f"{service.base}/jobs",
                files={"file": ("bikes.mp4", handle, "video/mp4")},
                data={"fps": "5", "provider": "local"},
                timeout=30,
            )
        assert posted.status_code == 202, posted.text
        job_id = posted.json()["job_id"]
        assert service.proc.wait(timeout=120) == -9  # killed by the job's second write batch
        restart_without_crash(service)

        def done() -> dict | None:
            job = httpx.get(f"{service.base}/jobs/{job_id}").json()
            assert job["status"] != "failed", job
            return job if job["status"] == "done" else None

        job = wait_until(done, 120, "the resumed job finishing")
        assert job["resumed"] == 1 and job["frames"] == 50  # 10 s at 5 fps, as a clean run
        video = job["video_id"]
        assert served_library(service) == searchable(service) == {video: 50}
        assert httpx.get(f"{service.base}/healthz").json()["frames"] == 50
    finally:
        service.stop()
    assert library(store) == {video: 50}
    assert check(store)[0] == 0
