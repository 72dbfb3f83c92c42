"""The service's ingest jobs (POST /jobs, GET /jobs, GET /jobs/{id}) against the Roboflow stand-in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.conftest import ROBOFLOW_TEST_KEY
from tests.helpers.server import running_service, wait_until


@pytest.fixture
def service(tmp_path, roboflow_standin):
    """`service(**settings)` opens a TestClient on one store; leave its `with` block to stop the service."""
    base = {"store": tmp_path / "store", "ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY, "roboflow_poll_interval": 0.02}

    def make(**overrides) -> TestClient:
        return TestClient(create_app(Settings(**{**base, **overrides})))

    make.standin = roboflow_standin
    make.jobs_dir = tmp_path / "store" / "cache" / "jobs"
    return make


def wait_for(client: TestClient, job_id: str, check, timeout: float = 10.0) -> dict:
    def reached() -> dict | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if check(job) else None

    return wait_until(reached, timeout, f"job {job_id} reaching the expected state")


def post_file(client: TestClient, path: Path, **fields) -> dict:
    with path.open("rb") as handle:
        response = client.post("/jobs", files={"file": (path.name, handle, "video/mp4")}, data=fields)
    assert response.status_code == 202, response.text
    return response.json()


def running_remotely(job: dict) -> bool:
    return job["status"] == "running" and bool(job["remote_job_id"]) and job["progress"].get("polls", 0) > 0


def test_upload_job_runs_at_roboflow_and_is_indexed(service, tiny_clip, sample_video):
    service.standin.slow = True
    with service() as client:
        created = post_file(client, sample_video, fps="3", provider="roboflow")
        assert created["status"] == "queued" and created["job_id"]
        running = wait_for(client, created["job_id"], running_remotely)
        assert running["stage"] == "running at Roboflow" and running["video_id"] == "bikes.mp4"
        assert client.get("/jobs").json()["jobs"][0]["job_id"] == created["job_id"]
        assert service.standin.only_job()["video"] == sample_video.read_bytes()
        service.standin.release(running["remote_job_id"])
        done = wait_for(client, created["job_id"], lambda j: j["status"] == "done")
        assert (done["frames"], done["skipped"], done["error"]) == (15, 0, None)
        assert "/" not in done["results_path"]  # its name: no server path in an answer
        assert any(p.is_file() for p in service.jobs_dir.parents[1].rglob(done["results_path"]))  # beside the store
        assert client.get("/videos/bikes.mp4").json()["source"] == "roboflow"
        red = tiny_clip.embed_texts(["red"])[0].tolist()
        top = client.post("/search", json={"vector": red, "threshold": 0.9}).json()["results"][0]
        assert (top["video_id"], top["start"]) == ("bikes.mp4", 1.8333)  # 2.0 s less half a 3 fps interval
        listing = client.get("/jobs").text
    assert ROBOFLOW_TEST_KEY not in listing
    assert not list(service.jobs_dir.glob("*/upload*"))  # the upload is dropped once the job is over
    assert all(ROBOFLOW_TEST_KEY not in p.read_text() for p in service.jobs_dir.glob("*/job.json"))


def test_url_job_from_json_and_a_failed_job(service):
    with service() as client:
        url = "https://videos.example.com/city.mp4?plan=red:1,blue:1"
        created = client.post("/jobs", json={"url": url, "provider": "roboflow", "fps": 2})
        assert created.status_code == 202, created.text
        done = wait_for(client, created.json()["job_id"], lambda j: j["status"] in ("done", "failed"))
        assert (done["status"], done["video_id"], done["frames"]) == ("done", "city.mp4", 4)
        failing = client.post("/jobs", data={"url": "https://videos.example.com/x.mp4?fail=1", "provider": "roboflow"})
        failed = wait_for(client, failing.json()["job_id"], lambda j: j["status"] in ("done", "failed"))
        assert failed["status"] == "failed" and "failed (status 2): video could not be decoded" in failed["error"]
        assert client.get("/jobs").json()["count"] == 2


def test_restart_in_the_middle_of_a_job_resumes_it(service, sample_video):
    service.standin.slow = True
    with service(job_workers=1) as client:
        first = post_file(client, sample_video, fps="3", provider="roboflow", video_id="first")["job_id"]
        second = client.post("/jobs", json={"url": "https://videos.example.com/b.mp4", "provider": "roboflow"}).json()
        remote = wait_for(client, first, running_remotely)["remote_job_id"]
        assert client.get(f"/jobs/{second['job_id']}").json()["status"] == "queued"  # one worker, busy
    on_disk = json.loads((service.jobs_dir / first / "job.json").read_text())
    assert (on_disk["status"], on_disk["remote_job_id"]) == ("running", remote)
    with service(job_workers=1) as client:
        resumed = client.get(f"/jobs/{first}").json()
        assert resumed["resumed"] == 1 and resumed["status"] in ("queued", "running")
        service.standin.release(remote)
        assert wait_for(client, first, lambda j: j["status"] == "done")["frames"] == 15
        later = wait_for(client, second["job_id"], running_remotely)
        service.standin.release(later["remote_job_id"])
        wait_for(client, second["job_id"], lambda j: j["status"] == "done")
        assert {v["video_id"] for v in client.get("/videos").json()["videos"]} == {"first", "b.mp4"}
    assert len(service.standin.jobs) == 2  # nothing was submitted twice


def _crashed_record(jobs_dir: Path, job_id: str, **fields) -> None:
    """Leave a job record as a killed service would have (no shutdown ran)."""
    record = {
        "job_id": job_id,
        "provider": "roboflow",
        "video_id": job_id,
        "fps": 3.0,
        "source": "v.mp4",
        "status": "running",
        "created_at": "2030-01-01T00:00:00+00:00",
        **fields,
    }
    (jobs_dir / job_id).mkdir(parents=True)
    (jobs_dir / job_id / "job.json").write_text(json.dumps(record))


def test_jobs_that_cannot_be_resumed_are_marked_failed_with_the_reason(service):
    _crashed_record(service.jobs_dir, "mid-submit", stage="submitting")
    _crashed_record(service.jobs_dir, "lost-upload", provider="local", upload=str(service.jobs_dir / "gone.mp4"))
    with service() as client:
        submitting = client.get("/jobs/mid-submit").json()
        assert submitting["status"] == "failed" and "not resumed after a restart" in submitting["error"]
        assert "whether Roboflow started a job is unknown" in submitting["error"]
        lost = client.get("/jobs/lost-upload").json()
        assert lost["status"] == "failed" and "gone" in lost["error"]
    assert service.standin.requests == []


def test_a_job_stopped_right_after_submission_is_found_in_the_pending_list(service, tmp_path):
    from framesearch.ingest import roboflow_job as rj
    from framesearch.ingest.roboflow_api import RoboflowVideoAPI
    from framesearch.settings import Settings as S

    url = "https://videos.example.com/late.mp4"
    remote = RoboflowVideoAPI(ROBOFLOW_TEST_KEY, service.standin.api_url).submit(url, 3)
    root = rj.results_dir(S(store=tmp_path / "store"))
    rj.remember(root, rj.VideoJob(url, "late", 3.0, remote), owner="adopted")
    _crashed_record(service.jobs_dir, "adopted", stage="submitting", source=url, video_id="late")
    with service() as client:
        job = wait_for(client, "adopted", lambda j: j["status"] in ("done", "failed"))
        assert (job["status"], job["remote_job_id"], job["frames"]) == ("done", remote, 15)
    assert len(service.standin.jobs) == 1


def test_uploads_stream_to_disk_under_the_size_limit(service, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(1536 * 1024))
    with service(max_upload_mb=1) as client:
        refused = client.post("/jobs", files={"file": ("big.mp4", big.read_bytes())}, data={"provider": "roboflow"})
        assert refused.status_code == 413 and "1 MB" in refused.json()["detail"]
        assert client.get("/jobs").json()["count"] == 0
        assert not any(service.jobs_dir.iterdir())  # the partial upload is gone too


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"json": {"url": "https://x/v.mp4", "provider": "gpu"}}, 422),
        ({"json": {"provider": "roboflow"}}, 422),
        ({"json": {"url": "ftp://x/v.mp4"}}, 422),
        ({"json": {"url": "https://x/v.mp4", "fps": 0}}, 422),
        ({"json": {"url": "https://x/v.mp4", "fps": "fast"}}, 422),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 422),
        ({"files": {"file": ("a.mp4", b"x")}, "data": {"url": "https://x/v.mp4"}}, 422),
    ],
)
def test_bad_job_requests_are_4xx(service, kwargs, status):
    with service() as client:
        assert client.post("/jobs", **kwargs).status_code == status
        assert client.get("/jobs").json()["count"] == 0
        assert client.get("/jobs/nope").status_code == 404


def test_local_jobs_run_the_real_local_ingest_and_report_progress(service, tiny_clip_dir, sample_video):
    with service(model=str(tiny_clip_dir)) as client:
        posted = post_file(client, sample_video, fps="2", provider="local")
        job = wait_for(client, posted["job_id"], lambda j: j["status"] == "done", timeout=60)
        assert (job["provider"], job["frames"]) == ("local", 20)
        assert job["progress"]["frames"] == 20
        video = client.get("/videos/bikes.mp4").json()
        assert (video["source"], video["frames"], video["fps"]) == ("local", 20, 2.0)
        assert Path(video["path"]).is_file()
        found = client.post("/search", json={"q": "white", "threshold": 0.5, "video_id": ["bikes.mp4"], "mode": "frames"})
        assert sorted(f["timestamp"] for f in found.json()["results"]) == [4.0, 4.5, 5.0, 5.5, 6.0, 6.5]  # the white scene
    with service() as client:  # no model configured: the collection's recorded model embeds the frames
        again = post_file(client, sample_video, fps="2", provider="local", video_id="bikes-again")
        done = wait_for(client, again["job_id"], lambda j: j["status"] == "done", timeout=60)
        assert done["frames"] == 20
        assert any("same bytes are already indexed as 'bikes.mp4'" in w for w in done["warnings"])


def test_an_empty_service_says_so_and_its_first_local_job_uses_the_default_model(service, tmp_path, sample_video):
    with service(store=tmp_path / "empty") as client:
        empty = client.get("/search", params={"q": "a red circle"})
        assert empty.status_code == 409 and empty.json()["error"] == "LibraryEmpty"
        detail = empty.json()["detail"]
        assert "the library is empty" in detail and "`framesearch ingest local ~/Videos --recursive`" in detail
        assert "no model given" not in detail and str(tmp_path) not in detail  # no server path in an answer
        job = post_file(client, sample_video, fps="2", provider="local")  # no model named anywhere
        done = wait_for(client, job["job_id"], lambda j: j["status"] in ("done", "failed"), timeout=60)
        assert done["status"] == "done" and done["frames"] == 20, done
        assert client.get("/healthz").json()["model"] == "framesearch/tiny-shapes-clip"  # the bundled CLIP, recorded
        assert client.get("/search", params={"q": "a red circle"}).status_code == 200


@pytest.mark.slow
def test_a_killed_service_resumes_its_roboflow_job(tmp_path, roboflow_standin):
    roboflow_standin.slow = True
    env = {
        "FRAMESEARCH_STORE": str(tmp_path / "store"),
        "API_URL": roboflow_standin.api_url,
        "ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY,
        "FRAMESEARCH_ROBOFLOW_POLL_INTERVAL": "0.05",
    }
    with running_service(env, tmp_path / "serve.log") as service:
        url = "https://videos.example.com/killed.mp4"
        job_id = httpx.post(f"{service.base}/jobs", json={"url": url, "provider": "roboflow"}).json()["job_id"]
        wait_until(
            lambda: roboflow_standin.jobs and next(iter(roboflow_standin.jobs.values()))["polls"] >= 2,
            what="two status polls at the stand-in",
        )
        service.kill()
        service.start()
        job = httpx.get(f"{service.base}/jobs/{job_id}").json()
        assert job["resumed"] == 1 and job["remote_job_id"] == roboflow_standin.only_job()["job_id"]
        roboflow_standin.release(job["remote_job_id"])

        def finished() -> dict | None:
            current = httpx.get(f"{service.base}/jobs/{job_id}").json()
            return current if current["status"] == "done" else None

        job = wait_until(finished, 10, "the resumed job finishing")
        assert (job["status"], job["frames"]) == ("done", 15)
