"""A full disk and a read-only store, on small real filesystems: clean errors, nothing committed lost.

Qdrant Edge dies of SIGBUS when the disk fills up under its memory-mapped files, so writes are refused
before they start (estimated from the input, plus a reserve); a write that hits a full disk anyway (an
upload) answers 507. Reads go on. A read-only store is read from a private copy, and writes say why not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers.crash import ROOT, check, invoke, library, one_error_line, results_file, run_cli, searchable
from tests.helpers.disks import MB, fill, remount_read_only, small_filesystem
from tests.helpers.server import running_service, wait_until

pytestmark = pytest.mark.slow

RESERVE = {"FRAMESEARCH_MIN_FREE_MB": "8"}


@pytest.fixture
def inputs(tmp_path):
    query = tmp_path / "query.json"
    query.write_text(json.dumps([1.0] * 8))
    # "big" needs about 6 MB by the store's estimate: more than a disk left with 12 MB minus the 8 MB reserve
    return results_file(tmp_path, "a", 300, seed=1), results_file(tmp_path, "big", 3000, seed=2), query


def test_a_full_disk_refuses_an_ingest_up_front_and_keeps_the_library(tmp_path, inputs):
    a, big, query = inputs
    with small_filesystem(tmp_path, 64) as disk:
        store = disk / "store"
        assert run_cli(store, "ingest", "results", str(a), env=RESERVE).returncode == 0
        filler = fill(disk, leave_mb=12)
        line = one_error_line(run_cli(store, "ingest", "results", str(big), env=RESERVE))
        assert "not enough free disk space" in line and "FRAMESEARCH_MIN_FREE_MB" in line
        assert library(store) == {"a": 300} and searchable(store, query) == {"a": 300}

        fill(disk, leave_mb=0)  # completely full: reading goes on, any write is refused, even without a reserve
        listed = run_cli(store, "videos", "list", "--json")
        assert listed.returncode == 0 and [v["video_id"] for v in json.loads(listed.stdout)] == ["a"]
        found = run_cli(
            store, "search", "--vector-file", str(query), "--mode", "frames", "--limit", "1000", "--threshold", "-1", "--json"
        )
        assert found.returncode == 0 and json.loads(found.stdout)["count"] == 300
        one_error_line(run_cli(store, "ingest", "results", str(big), env={"FRAMESEARCH_MIN_FREE_MB": "0"}))
        one_error_line(run_cli(store, "videos", "delete", "a", env={"FRAMESEARCH_MIN_FREE_MB": "0"}))
        assert check(store)[0] == 0

        filler.unlink()
        assert run_cli(store, "ingest", "results", str(big), env=RESERVE).returncode == 0
        assert library(store) == {"a": 300, "big": 3000}
        assert check(store)[0] == 0


def test_the_service_answers_507_on_a_full_disk_and_goes_on_serving(tmp_path, inputs, sample_video):
    a, big, _ = inputs
    with small_filesystem(tmp_path, 64) as disk:
        store = disk / "store"
        with running_service({"FRAMESEARCH_STORE": str(store), **RESERVE}, tmp_path / "serve.log") as service:

            def upload(path):
                return httpx.post(
                    f"{service.base}/videos/{path.stem}/results",
                    content=path.read_bytes(),
                    headers={"content-type": "application/json"},
                    timeout=60,
                )

            assert upload(a).status_code == 201
            wait_until(
                lambda: not httpx.get(f"{service.base}/healthz").json().get("indexing"),
                60,
                "the search index built after the upload",
            )  # it writes to the disk too
            filler = fill(disk, leave_mb=12)
            refused = upload(big)
            assert refused.status_code == 507 and refused.json()["error"] == "DiskFull", refused.text
            fill(disk, leave_mb=0)
            assert upload(big).status_code == 507
            with sample_video.open("rb") as handle:  # the upload itself hits the full disk
                job = httpx.post(f"{service.base}/jobs", files={"file": ("v.mp4", handle, "video/mp4")}, timeout=60)
            assert job.status_code == 507 and job.json()["error"] == "DiskFull", job.text
            health = httpx.get(f"{service.base}/healthz")
            assert health.status_code == 200 and health.json()["frames"] == 300
            assert service.proc.poll() is None
            filler.unlink()
            assert upload(big).status_code == 201
            assert httpx.get(f"{service.base}/healthz").json()["frames"] == 3300
        assert check(store)[0] == 0


def test_a_read_only_store_is_read_and_refuses_writes(tmp_path, inputs, monkeypatch):
    a, big, query = inputs
    monkeypatch.setenv("FRAMESEARCH_MIN_FREE_MB", "8")
    with small_filesystem(tmp_path, 64) as disk:
        store = disk / "store"
        assert invoke(store, "ingest", "results", str(a)).exit_code == 0
        remount_read_only(disk)
        assert library(store) == {"a": 300} and searchable(store, query) == {"a": 300}
        assert check(store)[0] == 0
        for args in (("ingest", "results", str(big)), ("videos", "delete", "a")):
            line = one_error_line(run_cli(store, *args))
            assert "read-only" in line
        with running_service({"FRAMESEARCH_STORE": str(store)}, tmp_path / "serve.log") as service:
            assert httpx.get(f"{service.base}/videos").json()["count"] == 1
            found = httpx.post(f"{service.base}/search", json={"vector": [1.0] * 8, "threshold": -1, "limit": 5})
            assert found.status_code == 200 and found.json()["count"] > 0
            for answer in (
                httpx.post(f"{service.base}/videos/big/results", content=big.read_bytes(), timeout=60),
                httpx.delete(f"{service.base}/videos/a"),
                httpx.post(f"{service.base}/jobs", json={"url": "https://example.com/v.mp4"}),
            ):
                assert answer.status_code == 503 and answer.json()["error"] == "StoreReadOnly", answer.text
            assert library(store) == {"a": 300}  # a second reader beside the service


def test_a_committed_upload_is_answered_201_even_when_its_cleanup_fails(tmp_path, monkeypatch):
    """The disk filling up after the commit (while sweeping the old version) must not turn into an error
    answer: a client would retry a write that happened. The next open or a store check finishes it."""
    from fastapi.testclient import TestClient

    from framesearch.errors import DiskFull
    from framesearch.service.app import create_app
    from framesearch.settings import Settings
    from framesearch.store.base import QdrantStore
    from framesearch.store.edge import EdgeStore

    def full(*args, **kwargs):
        raise DiskFull("the disk is full while sweeping")

    monkeypatch.setattr(QdrantStore, "finish_run", full)
    monkeypatch.setattr(EdgeStore, "flush", full)
    old, new = results_file(tmp_path, "old", 300, seed=1), results_file(tmp_path, "new", 280, step=7, seed=2)
    store = tmp_path / "store"
    with TestClient(create_app(Settings(store=store))) as client:
        for path, frames in ((old, 300), (new, 280)):
            answer = client.post("/videos/v/results", content=path.read_bytes())
            assert answer.status_code == 201 and answer.json()["frames"] == frames, answer.text
            assert client.get("/healthz").json()["frames"] == frames  # the committed version, alone
    monkeypatch.undo()
    code, report = check(store)
    assert code == 1 and {p["kind"] for p in report["problems"]} == {"unfinished_run"}
    code, report = check(store, repair=True)
    assert code == 0 and report["stored_points"] == report["searchable_frames"] == 280


def fill_when_written(disk, baseline_free: int, written_mb: float, writer: subprocess.Popen) -> subprocess.Popen | None:
    """Once the writer has taken `written_mb` MB of the disk, start another process (dd) filling the rest."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and writer.poll() is None:
        if baseline_free - shutil.disk_usage(disk).free >= written_mb * MB:
            return subprocess.Popen(["dd", "if=/dev/zero", f"of={disk}/filler", "bs=256k"], stderr=subprocess.DEVNULL)
        time.sleep(0.01)
    return None


@pytest.mark.parametrize("written_mb", [0.5, 4, 12, 24])
def test_a_disk_filled_by_another_process_mid_ingest_stops_the_command_cleanly(tmp_path, written_mb):
    """dd fills the disk at a chosen moment of `ingest results` (after the writer has used 0.5-24 MB): the command
    ends either done (0) or with one `error:` line saying the disk is full (1), never killed by a signal; reads go
    on while the disk is full; once space is freed the store checks clean and the next ingest works."""
    a = results_file(tmp_path, "a", 300, dim=256, seed=1)
    big = results_file(tmp_path, "big", 8000, dim=256, seed=3)
    with small_filesystem(tmp_path, 128) as disk:
        store = disk / "store"
        env = {"FRAMESEARCH_MIN_FREE_MB": "2"}
        assert run_cli(store, "ingest", "results", str(a), env=env).returncode == 0
        free = shutil.disk_usage(disk).free
        writer = subprocess.Popen(
            [sys.executable, "-m", "framesearch", "--store", str(store), "ingest", "results", str(big)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        filler = fill_when_written(disk, free, written_mb, writer)
        out, err = writer.communicate(timeout=300)
        if filler is not None:
            filler.wait(timeout=60)
        outcome = "SIGBUS in the child" if "SIGBUS" in err else "refused" if writer.returncode else "done"
        print(f"dd after {written_mb} MB: exit {writer.returncode}, {outcome}")  # the figures of docs/reliability.md
        assert writer.returncode in (0, 1), (writer.returncode, err[-2000:])
        if writer.returncode == 1:  # after its notes and progress, one error line
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and err.strip().endswith(errors[0]) and "Traceback" not in err, err[-2000:]
            assert any(words in errors[0] for words in ("disk full", "disk is full", "not enough free disk space")), errors[0]
        listed = run_cli(store, "videos", "list", "--json")  # reading a full disk's store
        assert listed.returncode == 0, listed.stderr
        assert [v["video_id"] for v in json.loads(listed.stdout)] in (["a"], ["a", "big"])
        (disk / "filler").unlink(missing_ok=True)
        assert run_cli(store, "store", "check", "--repair").returncode == 0
        assert check(store)[0] == 0
        assert run_cli(store, "ingest", "results", str(big), env=env).returncode == 0
        assert library(store) == {"a": 300, "big": 8000}


def test_a_store_left_mid_write_is_read_on_a_full_disk_from_a_private_copy(tmp_path):
    """A writer killed mid-ingest leaves a write-ahead log to replay; with its disk then full, a read command reads a
    private copy (replaying in place would write through memory maps and die of SIGBUS) and the store stays as it was:
    once space is freed the next open rolls the unfinished run back."""
    a = results_file(tmp_path, "a", 300, dim=256, seed=1)
    big = results_file(tmp_path, "big", 8000, dim=256, seed=3)
    with small_filesystem(tmp_path, 128) as disk:
        store = disk / "store"
        env = {"FRAMESEARCH_MIN_FREE_MB": "2"}
        assert run_cli(store, "ingest", "results", str(a), env=env).returncode == 0
        free = shutil.disk_usage(disk).free
        writer = subprocess.Popen(
            [sys.executable, "-m", "framesearch", "--store", str(store), "ingest", "results", str(big)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=ROOT,
        )
        wait_until(lambda: free - shutil.disk_usage(disk).free >= 4 * MB or writer.poll() is not None, timeout=120)
        writer.kill()
        writer.wait()
        filler = fill(disk, leave_mb=0)
        before = sorted(p.relative_to(store) for p in store.rglob("*"))
        listed = run_cli(store, "videos", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [v["video_id"] for v in json.loads(listed.stdout)] == ["a"]
        info = run_cli(store, "store", "info", "--json")
        assert info.returncode == 0, info.stderr
        assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # nothing written beside the store
        filler.unlink()
        assert run_cli(store, "ingest", "results", str(big), env=env).returncode == 0
        assert library(store) == {"a": 300, "big": 8000} and check(store)[0] == 0


@pytest.mark.parametrize("written_mb", [1, 12])
def test_the_service_answers_507_when_another_process_fills_the_disk_mid_upload(tmp_path, written_mb):
    """dd fills the disk while the service indexes an upload: the answer is 201 or 507 DiskFull (the store process
    may die of SIGBUS: the service does not), reads go on, and after space is freed uploads work again."""
    a = results_file(tmp_path, "a", 300, dim=256, seed=1)
    big = results_file(tmp_path, "big", 8000, dim=256, seed=3)
    with small_filesystem(tmp_path, 128) as disk:
        store = disk / "store"
        env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MIN_FREE_MB": "2", "FRAMESEARCH_CACHE_DIR": str(tmp_path / "cache")}
        with running_service(env, tmp_path / "serve.log") as service:

            def upload(path):
                return httpx.post(f"{service.base}/videos/{path.stem}/results", content=path.read_bytes(), timeout=300)

            assert upload(a).status_code == 201
            wait_until(lambda: not httpx.get(f"{service.base}/healthz").json().get("indexing"), 60, "the index build")
            free = shutil.disk_usage(disk).free
            with ThreadPoolExecutor(1) as pool:
                answer = pool.submit(upload, big)
                filler = fill_when_written(disk, free, written_mb, Running(answer))
                refused = answer.result()
            if filler is not None:
                filler.wait(timeout=60)
            assert refused.status_code in (201, 507), refused.text
            if refused.status_code == 507:
                assert refused.json()["error"] == "DiskFull" and str(disk) not in refused.text
            assert service.proc.poll() is None
            listed = httpx.get(f"{service.base}/videos", timeout=60)
            assert listed.status_code == 200 and "a" in [v["video_id"] for v in listed.json()["videos"]]
            (disk / "filler").unlink(missing_ok=True)
            again = upload(big)
            assert again.status_code == 201, again.text
            assert httpx.get(f"{service.base}/healthz").json()["frames"] == 8300
        log = (tmp_path / "serve.log").read_text()
        assert "Traceback" not in log, log[-6000:]


class Running:
    """A future seen as a process: `poll()` is None while it runs."""

    def __init__(self, future) -> None:
        self.future = future

    def poll(self):
        return 0 if self.future.done() else None
