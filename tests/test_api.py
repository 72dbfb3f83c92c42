"""The HTTP API through FastAPI's TestClient, and once through a real uvicorn process."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.helpers.server import running_service


@pytest.fixture
def client(tmp_path, tiny_clip_dir):
    settings = Settings(store=tmp_path / "store", model=str(tiny_clip_dir))
    with TestClient(create_app(settings)) as c:
        yield c


def upload(client, video_id: str, path, **params):
    return client.post(
        f"/videos/{video_id}/results", content=path.read_bytes(), params=params, headers={"content-type": "application/json"}
    )


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
    # frames at 2.0-3.5 s sampled at 2 fps, no video to cut: half an interval (0.25 s) out on each side
    assert (seg["video_id"], seg["start"], seg["end"]) == ("clips/one.mp4", 1.75, 3.75)
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
    by_text = client.post("/search", json={"q": "red", "t_min": 0.4, "frames": True}).json()
    assert all(f["timestamp"] >= 0.4 for r in by_text["results"] for f in r["frames"])


def test_multipart_results_upload(client, colour_results):
    path = colour_results("m", [("blue", 1)])
    r = client.post(
        "/videos/m/results",
        files={"file": ("m.json", path.read_bytes(), "application/json")},
        params={"model": "tests/tiny-colour-clip", "fps": 2},
    )
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
    answer = client.request(method, url, **kwargs)
    assert answer.status_code == status
    if status >= 400:
        assert set(answer.json()) == {"error", "detail"} and answer.json()["detail"]


@pytest.mark.parametrize(
    "request_args, status, error, words",
    [
        (("GET", "/search", {"params": {"q": "red", "t_min": "nan"}}), 422, "InvalidInput", "t_min"),
        (("GET", "/search", {"params": {"q": "red", "threshold": "inf"}}), 422, "InvalidInput", "threshold"),
        (
            ("POST", "/search", {"content": b'{"vector": [NaN, 1.0]}', "headers": {"content-type": "application/json"}}),
            422,
            "InvalidInput",
            "vector",
        ),
        (("POST", "/search", {"json": {"q": "red", "limit": 10**400}}), 422, "InvalidInput", "limit"),
        (("POST", "/search", {"json": {"q": "red", "typo": 1}}), 422, "InvalidInput", "typo"),
        (("POST", "/search", {"json": {"q": "   "}}), 422, "InvalidInput", "blank"),
        (("POST", "/videos/x/results?fps=nan", {"json": {}}), 422, "InvalidInput", "fps"),
        (("GET", "/no/such/route", {}), 404, "NotFound", "Not Found"),
        (("PUT", "/search", {}), 405, "MethodNotAllowed", "Method Not Allowed"),
    ],
)
def test_every_error_answer_has_the_documented_shape_and_never_echoes_the_input(client, request_args, status, error, words):
    method, url, kwargs = request_args
    answer = client.request(method, url, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json() == {"error": error, "detail": answer.json()["detail"]}
    assert words in answer.json()["detail"]
    assert not any(echo in answer.text for echo in ("NaN", "nan", "Infinity", "inf'", "1" * 50))


def test_defaults_come_from_the_settings(tmp_path, tiny_clip_dir, colour_results):
    settings = Settings(store=tmp_path / "store", model=str(tiny_clip_dir), threshold=0.79, limit=1)
    with TestClient(create_app(settings)) as c:
        upload(c, "a", colour_results("a", [("red", 1)]), model="tests/tiny-colour-clip")
        upload(c, "b", colour_results("b", [("red", 1)]), model="tests/tiny-colour-clip")
        found = c.get("/search", params={"q": "red"}).json()
        assert found["threshold"] == 0.79 and found["count"] == 1
        assert c.get("/search", params={"q": "red", "limit": 5}).json()["count"] == 2


def test_openapi_documents_the_response_models(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    wanted = {"SearchResponse", "Segment", "FrameMatch", "VideoRecord", "VideoList", "Job", "JobList", "ErrorAnswer"}
    assert wanted <= set(schemas)
    ok = spec["paths"]["/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/SearchResponse"}
    assert spec["paths"]["/videos/{video_id}"]["delete"]["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorAnswer"
    }


def test_vector_of_wrong_dimension_and_model_mismatch(client, colour_results):
    upload(client, "a", colour_results("a", [("red", 1)]), model="tests/tiny-colour-clip")
    wrong = client.post("/search", json={"vector": [1.0, 2.0]})
    assert wrong.status_code == 422 and "dimensions" in wrong.json()["detail"]
    other = upload(client, "b", colour_results("b", [("red", 1)]), model="clip/ViT-B-16")
    assert other.status_code == 422
    assert "vectors are 8-d but clip/ViT-B-16 makes 512-d ones" in other.json()["detail"]
    unnamed = upload(client, "b", colour_results("b", [("red", 1)]))
    assert unnamed.status_code == 422 and "clip/ViT-B-16" in unnamed.json()["detail"]
    unknown = upload(client, "b", colour_results("b", [("red", 1)]), model="no-such-model")
    assert unknown.status_code == 400 and "no-such-model" in unknown.json()["detail"]


def test_vectors_of_another_model_of_the_same_size_are_refused(client, colour_results, tmp_path):
    from tests.helpers.tiny_clip import build_tiny_clip

    other = build_tiny_clip(tmp_path / "other", name="tests/other-model")
    upload(client, "a", colour_results("a", [("red", 1)]), model="tests/tiny-colour-clip")
    refused = upload(client, "b", colour_results("b", [("red", 1)]), model=str(other))
    assert refused.status_code == 409 and "tests/other-model" in refused.json()["detail"]


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


@pytest.mark.slow
def test_real_uvicorn_process_serves_search_and_the_cli_goes_through_it(tmp_path, tiny_clip_dir, colour_results):
    store = tmp_path / "served"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log") as service:
        base = service.base
        path = colour_results("served", [("green", 1), ("red", 1)])
        r = httpx.post(
            f"{base}/videos/served/results",
            params={"model": "tests/tiny-colour-clip"},
            content=path.read_bytes(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201, r.text
        found = httpx.get(f"{base}/search", params={"q": "red", "threshold": 0.5}).json()
        assert [(s["video_id"], s["start"]) for s in found["results"]] == [("served", 0.75)]  # 1.0 s less half an interval
        cli = subprocess.run(
            [sys.executable, "-m", "framesearch", "videos", "list"], env=service.env, capture_output=True, text=True, timeout=60
        )
        assert cli.returncode == 0 and "served" in cli.stdout, cli.stderr  # through the service, which holds the store
        assert json.loads(httpx.get(f"{base}/videos").text)["count"] == 1
