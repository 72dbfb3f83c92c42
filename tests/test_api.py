"""The HTTP API through FastAPI's TestClient, and once through a real uvicorn process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from framesearch.service.app import create_app
from framesearch.settings import Settings


@pytest.fixture
def client(tmp_path, tiny_clip_dir):
    settings = Settings(store=tmp_path / "store", model=str(tiny_clip_dir))
    with TestClient(create_app(settings)) as c:
        yield c


def upload(client, video_id: str, path, **params):
    return client.post(f"/videos/{video_id}/results", content=path.read_bytes(), params=params,
                       headers={"content-type": "application/json"})


def test_health_on_an_empty_store(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["frames"] == 0 and body["model"] is None


def test_upload_search_get_and_delete(client, colour_results):
    path = colour_results("x", [("green", 2), ("red", 2)])
    created = upload(client, "clips/one.mp4", path, model="tests/tiny-colour-clip")
    assert created.status_code == 201, created.text
    assert created.json()["frames"] == 8
    found = client.get("/search", params={"q": "red", "threshold": 0.5}).json()
    assert found["count"] == 1
    seg = found["results"][0]
    assert (seg["video_id"], seg["start"], seg["end"]) == ("clips/one.mp4", 2.0, 3.5)
    assert client.get("/videos").json()["videos"][0]["video_id"] == "clips/one.mp4"
    assert client.get("/videos/clips/one.mp4").json()["frames"] == 8
    assert client.delete("/videos/clips/one.mp4").json()["deleted_frames"] == 8
    assert client.get("/videos/clips/one.mp4").status_code == 404


def test_post_search_with_filters_and_frames_mode(client, colour_results, tiny_clip):
    upload(client, "a", colour_results("a", [("red", 1)]), model="tests/tiny-colour-clip")
    upload(client, "b", colour_results("b", [("red", 1)]), model="tests/tiny-colour-clip")
    vector = tiny_clip.embed_texts(["red"])[0].tolist()
    body = client.post("/search", json={"vector": vector, "video_id": ["b"], "mode": "frames"}).json()
    assert body["count"] == 2 and {r["video_id"] for r in body["results"]} == {"b"}
    by_text = client.post("/search", json={"q": "red", "t_min": 0.4}).json()
    assert all(f["timestamp"] >= 0.4 for r in by_text["results"] for f in r["frames"])


def test_multipart_results_upload(client, colour_results):
    path = colour_results("m", [("blue", 1)])
    r = client.post("/videos/m/results", files={"file": ("m.json", path.read_bytes(), "application/json")},
                    params={"model": "tests/tiny-colour-clip", "fps": 2})
    assert r.status_code == 201, r.text
    assert client.get("/videos/m").json()["fps"] == 2


@pytest.mark.parametrize(
    "request_args, status",
    [
        (("GET", "/search", {"params": {"q": "red", "limit": 0}}), 422),
        (("GET", "/search", {"params": {"q": "red", "mode": "nope"}}), 422),
        (("GET", "/search", {}), 422),
        (("POST", "/search", {"json": {}}), 422),
        (("POST", "/search", {"json": {"q": "red", "vector": [1.0]}}), 422),
        (("POST", "/search", {"json": {"vector": [1.0, 2.0]}}), 200),
        (("DELETE", "/videos/missing", {}), 404),
        (("POST", "/videos/x/results", {"content": b"{broken"}), 422),
        (("POST", "/videos/x/results", {"json": {"frame_offset": [0], "time_offset": [0]}}), 422),
    ],
)
def test_bad_input_is_4xx_never_500(client, request_args, status):
    method, url, kwargs = request_args
    assert client.request(method, url, **kwargs).status_code == status


def test_vector_of_wrong_dimension_and_model_mismatch(client, colour_results):
    upload(client, "a", colour_results("a", [("red", 1)]), model="tests/tiny-colour-clip")
    wrong = client.post("/search", json={"vector": [1.0, 2.0]})
    assert wrong.status_code == 422 and "dimensions" in wrong.json()["detail"]
    other = upload(client, "b", colour_results("b", [("red", 1)]), model="clip/ViT-B-16")
    assert other.status_code == 409


def test_openapi_docs_are_served_without_a_cdn(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/videos", "/healthz"} <= set(paths)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_process_serves_search_and_locks_the_store(tmp_path, tiny_clip_dir, colour_results):
    port = _free_port()
    store = tmp_path / "served"
    env = {**os.environ, "FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    cmd = [sys.executable, "-m", "framesearch", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        path = colour_results("served", [("green", 1), ("red", 1)])
        r = httpx.post(f"{base}/videos/served/results", params={"model": "tests/tiny-colour-clip"},
                       content=path.read_bytes(), headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        found = httpx.get(f"{base}/search", params={"q": "red", "threshold": 0.5}).json()
        assert [(s["video_id"], s["start"]) for s in found["results"]] == [("served", 1.0)]
        cli = subprocess.run([sys.executable, "-m", "framesearch", "videos", "list"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1 and "in use by" in cli.stderr
        assert json.loads(httpx.get(f"{base}/videos").text)["count"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
