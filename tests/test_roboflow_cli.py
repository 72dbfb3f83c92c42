"""`framesearch ingest roboflow` against the local stand-in of Roboflow's Video Inference API."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from tests.conftest import ROBOFLOW_TEST_KEY

runner = CliRunner()
FAST = ["--poll-interval", "0.02", "--timeout", "5"]


@pytest.fixture
def rf(tmp_path, roboflow_standin):
    """Run `framesearch --store S ingest roboflow ARGS` with fast polling and the test key."""
    store = tmp_path / "store"

    def run(*args: str, key: str | None = ROBOFLOW_TEST_KEY, fast: bool = True):
        extra = (["--api-key", key] if key else []) + (FAST if fast else [])
        result = runner.invoke(app, ["--store", str(store), "ingest", "roboflow", *args, *extra])
        assert ROBOFLOW_TEST_KEY not in result.output
        return result

    run.store = store
    run.results = store / "roboflow-results"
    run.standin = roboflow_standin
    return run


def plan_video(folder: Path, name: str, plan: str) -> Path:
    """A stand-in 'video': the stand-in reads its colour plan from the uploaded bytes."""
    path = folder / name
    path.write_text(plan)
    return path


def videos(store: Path) -> dict[str, int]:
    listed = runner.invoke(app, ["--store", str(store), "videos", "list", "--json"])
    return {v["video_id"]: v["frames"] for v in json.loads(listed.stdout)}


def test_upload_run_poll_save_and_index_then_search(rf, roboflow_text_model, sample_video):
    result = rf(str(sample_video), "--fps", "3")
    assert result.exit_code == 0, result.output
    job = rf.standin.only_job()
    assert job["fps"] == 3 and job["video"] == sample_video.read_bytes()  # the real file went through the signed URL
    assert job["input_url"].startswith(rf.standin.storage_url) and job["polls"] >= 2
    servers = {(server, method) for server, method, _ in rf.standin.requests}
    assert {("api", "POST"), ("api", "GET"), ("storage", "PUT"), ("storage", "GET")} <= servers
    raw = rf.results / f"{job['job_id']}.json"
    assert raw.is_file() and json.loads(raw.read_text())["frame_offset"][:2] == [0, 10]
    assert f"indexed bikes.mp4: 15 frames (0 null skipped) from Roboflow job {job['job_id']}" in result.output
    assert json.loads((rf.results / "pending.json").read_text()) == {}
    found = runner.invoke(app, ["--store", str(rf.store), "--model", str(roboflow_text_model), "search", "red", "--json"])
    top = json.loads(found.stdout)["results"][0]
    assert (top["video_id"], top["start"], top["end"]) == ("bikes.mp4", 1.8333, 2.8334)  # half a 3 fps interval out
    record = json.loads(runner.invoke(app, ["--store", str(rf.store), "videos", "list", "--json"]).stdout)[0]
    assert (record["model"], record["source"], record["fps"]) == ("clip/ViT-B-16", "roboflow", 3.0)
    assert record["extra"]["roboflow_job_id"] == job["job_id"]


def test_url_input_skips_the_upload_and_key_comes_from_env(rf, monkeypatch):
    monkeypatch.setenv("ROBOFLOW_API_KEY", ROBOFLOW_TEST_KEY)
    url = "https://videos.example.com/clips/city%20walk.mp4?plan=red:1,green:1"
    result = rf(url, "--fps", "2", "--json", key=None)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["video_id"] == "city walk.mp4"
    assert rf.standin.only_job()["input_url"] == url
    assert not any(server == "storage" and method == "PUT" for server, method, _ in rf.standin.requests)
    assert videos(rf.store) == {"city walk.mp4": 4}


def test_a_failed_job_ends_with_roboflows_reason(rf, sample_video):
    rf.standin.fail = True
    result = rf(str(sample_video))
    assert result.exit_code == 1
    assert "failed (status 2): video could not be decoded" in result.output
    assert videos(rf.store) == {}


def test_timeout_keeps_the_job_pending_and_job_id_resumes_it(rf, sample_video):
    rf.standin.slow = True
    result = rf(str(sample_video), "--video-id", "ride", "--poll-interval", "0.02", "--timeout", "0.3", fast=False)
    assert result.exit_code == 1
    job_id = rf.standin.only_job()["job_id"]
    assert "not done after 0.3 s" in result.output and f"--job-id {job_id}" in result.output
    assert json.loads((rf.results / "pending.json").read_text())[job_id]["video_id"] == "ride"
    rf.standin.release(job_id)
    resumed = rf("--job-id", job_id)
    assert resumed.exit_code == 0, resumed.output
    assert len(rf.standin.jobs) == 1  # resumed, not submitted again
    assert videos(rf.store) == {"ride": 15}
    assert json.loads((rf.results / "pending.json").read_text()) == {}


def test_resume_reuses_saved_raw_results_without_asking_roboflow(rf, sample_video):
    assert rf(str(sample_video)).exit_code == 0
    job = rf.standin.only_job()
    polls, fetches = job["polls"], job["fetches"]
    again = rf("--job-id", job["job_id"], "--video-id", "bikes-again")
    assert again.exit_code == 0, again.output
    assert (job["polls"], job["fetches"]) == (polls, fetches)
    assert videos(rf.store) == {"bikes.mp4": 15, "bikes-again": 15}


def test_unparseable_results_are_kept_on_disk_and_named(rf, sample_video):
    rf.standin.results = lambda job: {"unexpected": True}
    result = rf(str(sample_video))
    assert result.exit_code == 1
    saved = rf.results / f"{rf.standin.only_job()['job_id']}.json"
    assert str(saved) in result.output.replace("\n", "") and saved.is_file()


def test_several_videos_run_as_concurrent_jobs(rf, tmp_path):
    rf.standin.polls_to_finish = 5
    a = plan_video(tmp_path, "alpha.mp4", "red:2,green:2")
    b = plan_video(tmp_path, "beta.mp4", "blue:3")
    result = rf(str(a), str(b), "--fps", "2", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["video_id"] for r in json.loads(result.stdout)) == ["alpha.mp4", "beta.mp4"]
    jobs = list(rf.standin.jobs.values())
    assert len(jobs) == 2 and max(j["created"] for j in jobs) < min(j["done"] for j in jobs)
    assert videos(rf.store) == {"alpha.mp4": 8, "beta.mp4": 6}


def test_one_failing_video_does_not_stop_the_others(rf, tmp_path):
    good = plan_video(tmp_path, "good.mp4", "red:2")
    result = rf(str(good), "https://videos.example.com/broken.mp4?fail=1", "--fps", "1")
    assert result.exit_code == 1
    assert "indexed good.mp4: 2 frames" in result.output
    assert "broken.mp4?fail=1: Roboflow job" in result.output and result.output.count("failed (status 2)") == 1
    assert videos(rf.store) == {"good.mp4": 2}


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda s: setattr(s, "quota", True), "quota or rate limit reached"),
        (lambda s: setattr(s, "expire_uploads", True), "signed upload URL expired"),
        (lambda s: setattr(s, "expired_outputs", 5), "signed URL expired"),
    ],
)
def test_roboflow_errors_end_with_a_clear_message(rf, setup, message, sample_video):
    setup(rf.standin)
    result = rf(str(sample_video))
    assert result.exit_code == 1 and message in result.output.replace("\n", " ")
    assert videos(rf.store) == {}


def test_an_expired_output_url_is_refreshed_once(rf, sample_video):
    rf.standin.expired_outputs = 1
    result = rf(str(sample_video))
    assert result.exit_code == 0, result.output
    assert videos(rf.store) == {"bikes.mp4": 15}


def test_a_bad_key_is_refused_and_never_printed(rf, sample_video):
    wrong = "rf-WRONG-key-0000"
    result = rf(str(sample_video), key=wrong)
    assert result.exit_code == 1 and "refused the API key (upload URL request: HTTP 401)" in result.output
    assert wrong not in result.output and "***" in result.output  # the stand-in echoed it; it was redacted
    assert rf.standin.keys_seen == [wrong]


def test_the_key_never_reaches_the_logs(rf, caplog, sample_video):
    caplog.set_level(logging.DEBUG, logger="httpx")
    assert rf(str(sample_video)).exit_code == 0
    assert "HTTP Request" in caplog.text and "videoinfer" in caplog.text
    assert ROBOFLOW_TEST_KEY not in caplog.text
    assert ROBOFLOW_TEST_KEY in rf.standin.keys_seen  # it was sent, as a query parameter, to the API only


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give at least one video"),
        (("missing.mp4",), "no such video file"),
        (("a.mp4", "b.mp4", "--video-id", "x"), "a video id names one video"),
        (("clip.mp4", "--fps", "0"), "fps: Input should be greater than 0"),
        (("clip.mp4", "--fps", "nan"), "fps: Input should be a finite number"),
        (("--job-id", "job-unknown"), "name its video id"),
    ],
)
def test_bad_arguments_fail_before_anything_is_paid_for(rf, args, message):
    result = rf(*args)
    assert result.exit_code == 1 and message in result.output
    assert rf.standin.requests == []


def test_no_key_at_all(rf, sample_video):
    result = rf(str(sample_video), key=None)
    assert result.exit_code == 1 and "needs an API key" in result.output


def test_a_store_of_another_model_is_refused_before_submitting(rf, colour_results, sample_video, tiny_clip_dir):
    path = colour_results("local", [("red", 1)])
    ingested = runner.invoke(app, ["--store", str(rf.store), "ingest", "results", str(path), "--model", str(tiny_clip_dir)])
    assert ingested.exit_code == 0, ingested.output
    result = rf(str(sample_video))
    assert result.exit_code == 1 and "tests/tiny-colour-clip" in result.output
    assert rf.standin.requests == []
