"""Degenerate input has a defined answer: empty time ranges give an empty timeline (200), an empty or blank video
id is a 4xx on every route and on the CLI (never "every video"), Range errors answer `{"error","detail"}`, no
answer names a server folder, and /healthz tells callers without a key only that the service is up."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app as cli_app
from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.helpers.crash import results_file
from tests.helpers.web import index_videos

KEY, READ_KEY = "degenerate-key-1", "degenerate-read-2"
EMPTY_IDS = ["", "%20", "%20%20%09"]  # as they appear in a URL path: empty, a space, blanks and a tab


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip_dir, sample_video):
    root = tmp_path_factory.mktemp("degenerate")
    index_videos(root / "store", tiny_clip_dir, {"shapes.mp4": sample_video, "other.mp4": sample_video}, fps=2.0)
    return root


@pytest.fixture
def client(library, tiny_clip_dir):
    with TestClient(create_app(Settings(store=library / "store", model=str(tiny_clip_dir)))) as c:
        yield c


def error_shape(answer) -> dict:
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["detail"], answer.text
    return body


@pytest.mark.parametrize("t_min, t_max", [(100, 200), (4.9, 4.95), (9.99, 10.0)])
def test_a_time_range_without_frames_is_an_empty_timeline(client, t_min, t_max):
    answer = client.get("/videos/shapes.mp4/timeline", params={"q": "red", "t_min": t_min, "t_max": t_max})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 0 and body["points"] == [] and body["video_id"] == "shapes.mp4"
    whole = client.get("/videos/shapes.mp4/timeline", params={"q": "red"}).json()
    assert whole["count"] == 20  # 10 s at 2 fps: the same route with frames in range


def test_timelines_racing_a_delete_answer_200_or_404_never_500(tmp_path, tiny_clip_dir, sample_video):
    index_videos(tmp_path / "store", tiny_clip_dir, {"v": sample_video}, fps=2.0)
    statuses: list[int] = []
    with TestClient(create_app(Settings(store=tmp_path / "store", model=str(tiny_clip_dir)))) as client:
        stop = threading.Event()

        def read():
            while not stop.is_set():
                statuses.append(client.get("/videos/v/timeline", params={"q": "red", "t_min": 1}).status_code)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        deleted = client.delete("/videos/v")
        stop.set()
        for thread in readers:
            thread.join()
    assert deleted.status_code == 200 and deleted.json()["deleted_frames"] == 20
    assert statuses and set(statuses) <= {200, 404}, statuses


@pytest.mark.parametrize("blank", EMPTY_IDS)
@pytest.mark.parametrize(
    "method, route",
    [
        ("DELETE", "/videos/{}"),
        ("GET", "/videos/{}"),
        ("GET", "/videos/{}/timeline?q=red"),
        ("GET", "/videos/{}/thumbnail"),
        ("GET", "/videos/{}/file"),
        ("GET", "/videos/{}/play"),
        ("GET", "/videos/{}/clip?start=0&end=1"),
        ("POST", "/videos/{}/results"),
    ],
)
def test_an_empty_or_blank_video_id_is_a_422_everywhere(client, method, route, blank):
    answer = client.request(method, route.format(blank), json={} if method == "POST" else None)
    assert answer.status_code == 422, (route, answer.text)
    assert error_shape(answer)["error"] == "InvalidInput" and "video_id" in answer.json()["detail"]
    assert client.get("/videos").json()["count"] == 2  # nothing was deleted


def test_deleting_an_empty_id_on_the_cli_is_an_error_and_deletes_nothing(tmp_path):
    runner = CliRunner()
    store = tmp_path / "store"
    assert (
        runner.invoke(cli_app, ["--store", str(store), "ingest", "results", str(results_file(tmp_path, "a", 30))]).exit_code == 0
    )
    for blank in ("", "   "):
        done = runner.invoke(cli_app, ["--store", str(store), "videos", "delete", blank])
        assert done.exit_code == 1 and done.output.startswith("error: video id") and "non-empty" in done.output, done.output
    listed = runner.invoke(cli_app, ["--store", str(store), "videos", "list", "--json"])
    assert '"frames": 30' in listed.stdout


def test_frame_count_of_an_empty_id_is_zero_not_the_library(tmp_path):
    from framesearch.store.open import open_store
    from tests.helpers.crash import invoke

    assert invoke(tmp_path / "store", "ingest", "results", str(results_file(tmp_path, "a", 30))).exit_code == 0
    with open_store(Settings(store=tmp_path / "store")) as store:
        assert store.frame_count() == 30 and store.frame_count("a") == 30
        assert store.frame_count("") == 0 and store.run_markers("") == [] and store.point_counts("ingest_run", "") == {}


@pytest.mark.parametrize(
    "asked, status",
    [
        ("bytes=abc", 400),
        ("bytes=5-2", 400),
        ("items=0-10", 400),
        ("bytes=", 400),
        ("bytes=99999999-", 416),
        ("bytes=99999999-100000000", 416),
        ("=", 400),
        ("bytes=-", 400),
    ],
)
@pytest.mark.parametrize("route", ["file", "play"])
def test_range_errors_answer_the_error_shape(client, sample_video, route, asked, status):
    answer = client.get(f"/videos/shapes.mp4/{route}", headers={"Range": asked})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = error_shape(answer)
    if status == 416:
        assert (
            body["error"] == "RangeNotSatisfiable" and answer.headers["content-range"] == f"bytes */{sample_video.stat().st_size}"
        )
    else:
        assert body["error"] == "InvalidInput" and "Range" in body["detail"]
    good = client.get(f"/videos/shapes.mp4/{route}", headers={"Range": "bytes=0-99"})
    assert good.status_code == 206 and len(good.content) == 100


def test_no_answer_names_a_server_folder(tmp_path, tiny_clip_dir, library):
    settings = Settings(store=library / "store", model=str(tiny_clip_dir), api_key=KEY)
    folders = [str(library), str(tmp_path.parent), str(tiny_clip_dir)]
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
        answers = [
            client.get("/videos/nothing-here"),
            client.delete("/videos/nothing-here"),
            client.get("/videos/nothing-here/timeline", params={"q": "red"}),
            client.get("/videos/nothing-here/file"),
            client.get("/jobs/nope"),
            client.get("/healthz"),
            client.get("/nowhere"),
        ]
    for answer in answers:
        assert not any(folder in answer.text for folder in folders), answer.text
    assert answers[0].status_code == 404 and answers[0].json()["detail"] == "no video 'nothing-here' in the library"


def test_a_missing_video_file_is_reported_without_its_path(tmp_path, tiny_clip_dir, sample_video):
    import shutil

    copy = tmp_path / "media" / "gone.mp4"
    copy.parent.mkdir()
    shutil.copy(sample_video, copy)
    index_videos(tmp_path / "store", tiny_clip_dir, {"gone": copy}, fps=1.0)
    copy.unlink()
    with TestClient(create_app(Settings(store=tmp_path / "store", model=str(tiny_clip_dir)))) as client:
        for route in ("file", "play", "thumbnail"):
            answer = client.get(f"/videos/gone/{route}")
            assert answer.status_code == 404 and error_shape(answer)["error"] == "VideoFileUnavailable"
            assert str(tmp_path) not in answer.text and "a server folder" in answer.json()["detail"]


def test_healthz_tells_callers_without_a_key_only_that_it_is_up(library, tiny_clip_dir):
    settings = Settings(store=library / "store", model=str(tiny_clip_dir), api_key=KEY, read_api_key=READ_KEY)
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/healthz")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
        assert client.get("/healthz", headers={"X-API-Key": "wrong"}).json() == {"status": "ok"}
        for key in (KEY, READ_KEY):
            detailed = client.get("/healthz", headers={"Authorization": f"Bearer {key}"}).json()
            assert detailed["status"] == "ok" and detailed["frames"] == 40 and detailed["model"]
            assert detailed["store"] == "Qdrant Edge, collection 'frames'"
    with TestClient(create_app(Settings(store=library / "store", model=str(tiny_clip_dir)))) as keyless:
        assert keyless.get("/healthz").json()["frames"] == 40  # without keys, everyone may read everything anyway


@pytest.mark.parametrize("signum, code", [("SIGBUS", 1), ("SIGKILL", -9), ("SIGTERM", -15)])
def test_a_supervised_command_reports_sigbus_and_mirrors_other_signals(tmp_path, signum, code):
    """The CLI's supervisor (cli/supervise.py): the command's child dying of SIGBUS is one `error:` line, exit 1;
    any other death is this process's own, as without a supervisor."""
    import subprocess
    import sys

    from tests.helpers.crash import ROOT

    script = (
        "import os, signal; from framesearch.cli.supervise import supervise, note_store; supervise('videos'); "
        f"note_store({str(tmp_path)!r}, 0); os.kill(os.getpid(), signal.{signum})"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == code, done.stderr
    if signum == "SIGBUS":
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "SIGBUS" in lines[0], done.stderr
