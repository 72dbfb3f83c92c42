"""The service's watched streams (POST /streams, GET /streams, DELETE /streams/{id}): the URL jobs' SSRF rule,
errors as {"error","detail"}, and (slow) a stream on loopback indexed while it plays and watched again after a
restart of the service."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from framesearch.service.app import create_app
from framesearch.settings import Settings


@pytest.fixture
def service(tmp_path):
    def make(**overrides) -> TestClient:
        return TestClient(create_app(Settings(**{"store": tmp_path / "store", "model": "tiny-shapes-clip", **overrides})))

    return make


@pytest.mark.parametrize(
    "body, status",
    [
        ({"url": "udp://10.1.2.3:5000"}, 403),  # a non-http scheme from a host not allowed
        ({"url": "rtsp://camera.example/live"}, 403),
        ({"url": "http://127.0.0.1:8000/live.m3u8"}, 403),  # loopback: not public
        ({"url": "http://localhost/live.m3u8"}, 403),
        ({"url": "/var/video/growing.ts"}, 422),  # files on the service's machine: never
        ({"url": "file:///etc/passwd"}, 422),
        ({"url": "gopher://example.com/x"}, 422),
        ({"url": "udp://127.0.0.1:5000", "fps": 0}, 422),
        ({"url": "udp://127.0.0.1:5000", "keep": "forever"}, 422),
        ({"url": "udp://127.0.0.1:5000", "video_id": " "}, 422),
        ({"url": "udp://127.0.0.1:5000", "colour": "red"}, 422),
        ({}, 422),
    ],
)
def test_bad_or_forbidden_streams_are_refused_with_an_error_and_a_detail(service, body, status):
    with service(url_allow_hosts=["127.0.0.1"] if "keep" in body or "fps" in body or "video_id" in body else []) as client:
        answer = client.post("/streams", json=body)
        assert answer.status_code == status, answer.text
        assert set(answer.json()) == {"error", "detail"}
        assert client.get("/streams").json() == {"count": 0, "streams": []}


def test_deleting_a_stream_not_watched_is_a_404(service):
    with service() as client:
        answer = client.delete("/streams/nothing")
        assert answer.status_code == 404 and set(answer.json()) == {"error", "detail"}


def wait_for(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    return predicate()


@pytest.mark.slow
def test_a_watched_stream_is_indexed_listed_and_watched_again_after_a_restart(service, tmp_path):
    from tests.helpers.live_source import FolderServer, LiveShapes

    folder = tmp_path / "hls"
    folder.mkdir()
    source = LiveShapes(str(folder / "live.m3u8"), scene=("circle", "red", "white")).start()
    server = FolderServer(folder).start()
    try:
        wait_for(lambda: (folder / "live.m3u8").exists(), 10)
        url = server.url("live.m3u8")
        with service(url_allow_hosts=["127.0.0.1"]) as client:
            added = client.post("/streams", json={"url": url, "video_id": "channel", "keep": "1h"})
            assert added.status_code == 201, added.text
            assert added.json()["video_id"] == "channel"
            assert client.post("/streams", json={"url": url, "video_id": "channel"}).status_code == 422  # watched already

            def playing() -> dict | None:
                streams = client.get("/streams").json()["streams"]
                return streams[0] if streams and streams[0]["frames"] >= 4 else None

            stream = wait_for(playing, 40)
            assert stream and stream["status"] == "playing", client.get("/streams").json()
            found = client.get("/search", params={"q": "a red circle"}).json()["results"]
            assert found and found[0]["video_id"] == "channel" and found[0]["start_utc"].endswith("Z")
            listed = json.loads((tmp_path / "store" / "cache" / "streams.json").read_text())
            assert [s["video_id"] for s in listed] == ["channel"]
        before = None
        with service(url_allow_hosts=["127.0.0.1"]) as client:  # restarted: it watches the stream again
            before = client.get("/videos/channel").json()["frames"]
            assert wait_for(lambda: client.get("/videos/channel").json()["frames"] > before, 40)
            assert client.delete("/streams/channel").status_code == 200
            assert client.get("/streams").json()["count"] == 0
            assert client.get("/videos/channel").status_code == 200  # what was indexed stays
    finally:
        source.stop()
        server.stop()


@pytest.mark.slow
def test_ingest_stream_while_serve_runs_hands_the_stream_to_the_service(tmp_path):
    import subprocess
    import sys

    import httpx

    from tests.helpers.live_source import LiveShapes, free_udp_port
    from tests.helpers.server import running_service

    url = f"udp://127.0.0.1:{free_udp_port()}"
    source = LiveShapes(url).start()
    env = {
        "FRAMESEARCH_STORE": str(tmp_path / "store"),
        "FRAMESEARCH_MODEL": "tiny-shapes-clip",
        "FRAMESEARCH_URL_ALLOW_HOSTS": "127.0.0.1",
    }
    try:
        with running_service(env, tmp_path / "serve.log") as service:
            cli = [sys.executable, "-m", "framesearch", "ingest", "stream", url, "--video-id", "feed"]
            done = subprocess.run(cli, env=service.env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and "the service watches" in done.stdout, done.stderr

            def indexed() -> bool:
                streams = httpx.get(f"{service.base}/streams").json()["streams"]
                return bool(streams) and streams[0]["frames"] >= 2

            assert wait_for(indexed, 40), httpx.get(f"{service.base}/streams").json()
            assert httpx.delete(f"{service.base}/streams/feed").status_code == 200
    finally:
        source.stop()
