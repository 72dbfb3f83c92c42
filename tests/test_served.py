"""One library while `serve` runs: the service records its address beside the store, and every command talks to it.

In-process (TestClient, CliRunner): the address file's life, stale files, the lock message naming the service,
the store and library-job routes, and the folder watcher's settling. In subprocesses (slow): a real `serve` and
the CLI from another folder, whose output and exit codes match the same commands run on the store directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app as cli_app
from framesearch.service.app import create_app
from framesearch.service.library_jobs import LibraryJobRequest
from framesearch.service.watch import FolderWatcher
from framesearch.settings import Settings
from framesearch.store.address import ADDRESS_FILE, read_address, write_address
from tests.helpers.server import ROOT, free_port, running_service, wait_until
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
LOOPBACK = ("127.0.0.1", 40000)
SCENES = [("square", "white", "black", 2.0), ("circle", "red", "white", 2.0)]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Two short videos in nested folders: a.mp4 and sub/b.mp4."""
    root = tmp_path_factory.mktemp("media")
    (root / "sub").mkdir()
    write_shapes_video(root / "a.mp4", SCENES, fps=10)
    write_shapes_video(root / "sub" / "b.mp4", [("triangle", "green", "black", 2.0)], fps=10)
    return root


def settings_for(tmp_path: Path, model: Path) -> Settings:
    return Settings(store=tmp_path / "store", model=str(model))


def wait_job(client: TestClient, job_id: str) -> dict:
    return wait_until(
        lambda: (job := client.get(f"/jobs/{job_id}").json())["status"] in ("done", "failed") and job, 120, "the job ending"
    )


# ---- the address file ----------------------------------------------------------------------------------


def test_the_service_records_its_address_while_it_runs_and_removes_it_after(tmp_path, tiny_clip_dir):
    settings = settings_for(tmp_path, tiny_clip_dir)
    with TestClient(create_app(settings, announce="http://127.0.0.1:9")) as client:
        assert client.get("/healthz").status_code == 200
        found = read_address(settings.store)
        assert found is not None and found.url == "http://127.0.0.1:9" and found.pid == os.getpid()
        assert found.collection == "frames"
    assert not (settings.store / ADDRESS_FILE).exists()


def test_a_stale_address_is_ignored_and_the_command_opens_the_store(tmp_path, tiny_clip_dir):
    store = tmp_path / "store"
    write_address(store, "http://127.0.0.1:9", "frames")
    data = json.loads((store / ADDRESS_FILE).read_text())
    (store / ADDRESS_FILE).write_text(json.dumps({**data, "pid": 2**22 + 7}))  # no such process
    assert read_address(store) is None
    result = runner.invoke(cli_app, ["--store", str(store), "videos", "list"])
    # the command opened the store itself (the folder holds no collection yet), never the dead address
    assert result.exit_code == 1 and "no collection 'frames'" in result.output, result.output
    assert "127.0.0.1:9" not in result.output


def test_the_lock_message_names_the_service_and_its_address(tmp_path, monkeypatch):
    from framesearch.cli import remote
    from framesearch.store.edge import EdgeStore

    monkeypatch.setattr(remote, "ANSWER_WAIT_S", 0.2)
    store = tmp_path / "store"
    holder = EdgeStore(store, "frames")
    try:
        write_address(store, "http://127.0.0.1:9", "frames")  # this process "serves" it, but answers nothing
        result = runner.invoke(cli_app, ["--store", str(store), "videos", "list"])
    finally:
        holder.close()
    assert result.exit_code == 1
    assert "`framesearch serve` at http://127.0.0.1:9" in result.output and f"pid {os.getpid()}" in result.output


def test_a_service_named_by_url_that_does_not_answer_is_one_error_line(tmp_path):
    result = runner.invoke(
        cli_app, ["--store", str(tmp_path / "s"), "videos", "list"], env={"FRAMESEARCH_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 1
    assert "the framesearch service at http://127.0.0.1:9 does not answer" in result.output
    assert not (tmp_path / "s").exists()


# ---- routes -----------------------------------------------------------------------------------------------


def test_library_jobs_index_a_folder_and_report_each_video(tmp_path, tiny_clip_dir, media):
    settings = settings_for(tmp_path, tiny_clip_dir)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        body = {"inputs": [str(media)], "recursive": True, "fps": 2}
        accepted = client.post("/jobs/library", json=body)
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, accepted.json()["job_id"])
        assert job["status"] == "done" and job["kind"] == "library"
        assert {(o["video_id"], o["status"]) for o in job["outcomes"]} == {("a.mp4", "indexed"), ("sub/b.mp4", "indexed")}
        assert client.get("/videos").json()["count"] == 2
        again = wait_job(client, client.post("/jobs/library", json=body).json()["job_id"])
        assert {o["status"] for o in again["outcomes"]} == {"skipped"}
        info = client.get("/store").json()
        assert info["videos"] == 2 and info["points"] == sum(o["frames"] for o in job["outcomes"])
        assert client.get("/store/check").json()["problems"] == []


def test_library_jobs_refuse_missing_paths_relative_paths_and_remote_clients(tmp_path, tiny_clip_dir, media):
    settings = settings_for(tmp_path, tiny_clip_dir)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        missing = client.post("/jobs/library", json={"inputs": [str(tmp_path / "nothing-here")]})
        assert missing.status_code == 422 and "no such file or folder" in missing.json()["detail"]
        relative = client.post("/jobs/library", json={"inputs": ["media"]})
        assert relative.status_code == 422 and "absolute" in relative.json()["detail"]
    with TestClient(create_app(settings), client=("203.0.113.5", 5000)) as remote:
        refused = remote.post("/jobs/library", json={"inputs": [str(media)]})
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        assert str(media) not in refused.text


def test_store_routes_answer_what_store_info_and_check_print(tmp_path, tiny_clip_dir):
    from framesearch.store.info import describe
    from framesearch.store.open import open_store

    settings = settings_for(tmp_path, tiny_clip_dir)
    with TestClient(create_app(settings)) as client:
        served = client.get("/store").json()
        check = client.get("/store/check").json()
        repaired = client.post("/store/repair").json()
    with open_store(settings) as st:
        direct = describe(st).model_dump(mode="json")
    assert served == direct
    assert check["problems"] == [] and repaired["repair"] is True


# ---- the watcher ------------------------------------------------------------------------------------------


def test_a_watched_file_is_sent_once_it_has_settled_not_while_it_is_written(tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "there-before.mp4").write_bytes(b"x")
    sent: list[LibraryJobRequest] = []
    watcher = FolderWatcher([folder.resolve()], sent.append, settle_s=1.0).start()
    try:
        wait_until(lambda: len(sent) == 1, 10, "the first sync of the folder")
        assert sent[0].only is None and sent[0].inputs == [str(folder.resolve())]
        target = folder / "growing.mp4"
        with target.open("wb") as handle:
            for _ in range(6):  # 3 s of writing, a chunk every 0.5 s: never settled for 1 s
                handle.write(b"x" * 1000)
                handle.flush()
                time.sleep(0.5)
                assert len(sent) == 1, "a file still being written was sent"
        (folder / "notes.txt").write_text("not a video")
        wait_until(lambda: len(sent) == 2, 15, "the settled file being sent")
        assert sent[1].only == [str(target.resolve())]
        time.sleep(2)
        assert len(sent) == 2, "a settled file was sent twice, or a text file was sent"
    finally:
        watcher.stop()


def test_an_empty_watched_folder_makes_no_job_until_a_video_appears(tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    sent: list[LibraryJobRequest] = []
    watcher = FolderWatcher([folder.resolve()], sent.append, settle_s=0.5).start()
    try:
        time.sleep(1.5)
        assert sent == []
        (folder / "v.mkv").write_bytes(b"x" * 100)
        wait_until(lambda: len(sent) == 1, 10, "the new video sent")
        assert sent[0].only == [str((folder / "v.mkv").resolve())]
    finally:
        watcher.stop()


def test_watched_deletions_reach_the_prune_callback_only_for_gone_files(tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    video = folder / "v.mp4"
    video.write_bytes(b"x")
    gone: list[list[Path]] = []
    watcher = FolderWatcher([folder.resolve()], lambda req: None, delete_gone=gone.append, settle_s=0.5).start()
    try:
        wait_until(lambda: len(gone) == 1, 10, "the start-up prune of the folder")
        assert gone[0] == [folder.resolve()]
        video.unlink()
        wait_until(lambda: len(gone) == 2, 10, "the deletion reported")
        assert gone[1] == [video.resolve()]
    finally:
        watcher.stop()


# ---- a real service and the CLI in another folder -----------------------------------------------------------


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "framesearch", *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=300
    )


READS = [
    ("videos", "list"),
    ("videos", "list", "--json"),
    ("search", "a red circle"),
    ("search", "a red circle", "--json"),
    ("search", "a red circle", "--format", "csv"),
    ("search", "a red circle", "--limit", "1", "--frames"),
    ("search", "a red circle", "--under", "sub/", "--min-confidence=0.1"),
    ("search", ""),
    ("store", "info"),
    ("store", "info", "--json"),
    ("store", "check"),
    ("videos", "list", "--sort", "duration", "--limit", "1"),
    ("videos", "list", "--sort", "bogus"),
    ("videos", "delete", "no-such-video"),
    ("search", "--vector-file", "/no/such/file.json"),
]


@pytest.mark.slow
def test_every_command_works_on_the_served_library_with_the_same_output(tmp_path, tiny_clip_dir, media):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = tmp_path / "store"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log") as service:
        assert read_address(store) is not None and read_address(store).url == service.base  # type: ignore[union-attr]
        ingest = run_cli(env, elsewhere, "ingest", "local", str(media), "--recursive", "--fps", "2")
        assert ingest.returncode == 0, ingest.stderr
        assert f"indexing in the service at {service.base}" in ingest.stderr
        pages = httpx.get(f"{service.base}/videos").json()
        assert {v["video_id"] for v in pages["videos"]} == {"a.mp4", "sub/b.mp4"}  # the page's list, no restart
        wait_until(lambda: not httpx.get(f"{service.base}/healthz").json().get("indexing"), 60, "the index build")
        served = {args: run_cli(env, elsewhere, *args) for args in READS}
        clip = run_cli(env, elsewhere, "clip", "a.mp4", "--from", "1", "--to", "2", "-o", str(tmp_path / "c1.mp4"))
    assert not (store / ADDRESS_FILE).exists()
    direct = {args: run_cli(env, elsewhere, *args) for args in READS}
    for args in READS:
        assert (served[args].returncode, served[args].stdout) == (direct[args].returncode, direct[args].stdout), args
        assert served[args].stderr == direct[args].stderr, args
    assert served[("videos", "list")].returncode == 0 and "sub/b.mp4" in served[("videos", "list")].stdout
    assert served[("videos", "delete", "no-such-video")].returncode == 1
    assert clip.returncode == 0 and "wrote" in clip.stdout and (tmp_path / "c1.mp4").stat().st_size > 0

    # the same ingest run directly on a fresh store prints the same table
    local_env = {**env, "FRAMESEARCH_STORE": str(tmp_path / "store2")}
    local = run_cli(local_env, elsewhere, "ingest", "local", str(media), "--recursive", "--fps", "2")
    assert (local.returncode, local.stdout) == (ingest.returncode, ingest.stdout)


@pytest.mark.slow
def test_deletes_and_results_go_through_the_service(tmp_path, tiny_clip_dir, media, colour_results):
    store = tmp_path / "store"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    results = colour_results("colours", [("green", 1), ("red", 1)])
    with running_service(env, tmp_path / "serve.log") as service:
        added = run_cli(env, tmp_path, "ingest", "results", str(results), "--model", "tests/tiny-colour-clip")
        assert added.returncode == 0, added.stderr
        assert "indexed colours" in added.stdout
        assert httpx.get(f"{service.base}/videos/colours").status_code == 200
        deleted = run_cli(env, tmp_path, "videos", "delete", "colours")
        assert deleted.returncode == 0 and deleted.stdout.startswith("deleted colours:"), deleted.stderr
        assert httpx.get(f"{service.base}/videos").json()["count"] == 0


@pytest.mark.slow
def test_a_video_copied_into_a_watched_folder_becomes_searchable_and_leaves_when_deleted(tmp_path, tiny_clip_dir, media):
    watched = tmp_path / "watched"
    watched.mkdir()
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log", args=("--watch", str(watched), "--prune")) as service:
        copy_slowly(media / "a.mp4", watched / "new.mp4")

        def listed() -> set[str]:
            return {v["video_id"] for v in httpx.get(f"{service.base}/videos").json()["videos"]}

        wait_until(lambda: "new.mp4" in listed(), 90, "the copied video indexed", interval=0.5)
        jobs = httpx.get(f"{service.base}/jobs").json()["jobs"]
        assert any(j["kind"] == "library" and j["status"] == "done" for j in jobs)  # what the page shows
        # a raw cosine floor: the tiny colour model's absolute scale is not what this test is about
        found = run_cli(env, tmp_path, "search", "red", "--threshold", "0.3", "--json")
        assert found.returncode == 0 and "new.mp4" in found.stdout, found.stdout
        (watched / "new.mp4").unlink()
        wait_until(lambda: "new.mp4" not in listed(), 30, "the deleted video removed", interval=0.5)


def copy_slowly(source: Path, target: Path) -> None:
    """Copy in pieces over about 1.5 s, as a slow copy would: the watcher must wait for the whole file."""
    data = source.read_bytes()
    pieces = 6
    with target.open("wb") as out:
        for i in range(pieces):
            out.write(data[i * len(data) // pieces : (i + 1) * len(data) // pieces])
            out.flush()
            time.sleep(0.25)


def test_serve_refuses_a_watch_folder_that_does_not_exist(tmp_path):
    result = runner.invoke(
        cli_app, ["serve", "--store", str(tmp_path / "s"), "--watch", str(tmp_path / "nope"), "--port", str(free_port())]
    )
    assert result.exit_code == 1 and "cannot watch" in result.output and "no such folder" in result.output
