"""The page's HTTP side: page and assets, thumbnails, video files with ranges, image and more-like-this search."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from framesearch.ingest.video import frame_at
from framesearch.search.images import decode_image
from framesearch.service.app import create_app
from framesearch.service.media import media_type
from framesearch.settings import Settings
from tests.conftest import results_json
from tests.helpers.synthetic_video import write_shapes_video
from tests.helpers.tiny_clip import solid_frame
from tests.helpers.web import index_videos

FLOWER_ID = "clips/flower.mp4"
# A rendered 5 s video (no shared media needed): a yellow circle on red (0-2.5 s, what "red" finds with the tiny
# colour CLIP), then a white square on blue (2.5-5 s); 480x270, so thumbnails (240 px high) are never enlarged.
SCENES = [("circle", "yellow", "red", 2.5), ("square", "white", "blue", 2.5)]


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def flower(tmp_path_factory) -> Path:
    return write_shapes_video(tmp_path_factory.mktemp("media") / "flower.mp4", SCENES, fps=10, size=(480, 270))


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip_dir, flower):
    """A store holding flower.mp4 (a copy, id with a slash), a copy that is then removed, and a results-only video."""
    root = tmp_path_factory.mktemp("web")
    shutil.copy(flower, root / "flower.mp4")
    shutil.copy(flower, root / "gone.mp4")
    index_videos(root / "store", tiny_clip_dir, {FLOWER_ID: root / "flower.mp4", "gone": root / "gone.mp4"}, fps=2.0)
    (root / "gone.mp4").unlink()
    return root


@pytest.fixture(scope="module")
def client(library, tiny_clip_dir, tiny_clip):
    settings = Settings(store=library / "store", model=str(tiny_clip_dir))
    with TestClient(create_app(settings)) as c:
        vectors = tiny_clip.embed_images([solid_frame("yellow")] * 2).tolist()
        r = c.post(
            "/videos/imported/results",
            json=results_json([0, 12], [0.0, 0.5], vectors),
            params={"model": "tests/tiny-colour-clip", "fps": 2},
        )
        assert r.status_code == 201, r.text
        yield c


def test_page_and_assets_are_served_by_the_service(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/static/app.js").headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")


def test_static_files_name_no_external_url():
    from framesearch.service.web import STATIC_DIR

    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            urls = [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"')]*", text) if "www.w3.org/2000/svg" not in u]
            assert not urls, f"{path.name} names external URLs {urls}"


def test_thumbnail_is_a_cached_jpeg_with_cache_headers(client, library, flower, monkeypatch):
    thumbs = library / "store" / "cache" / "thumbs"
    before = len(list(thumbs.rglob("*.jpg")))
    r = client.get(f"/videos/{FLOWER_ID}/thumbnail", params={"t": 4.0})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "public" in r.headers["cache-control"] and "max-age=" in r.headers["cache-control"]
    etag = r.headers["etag"]
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "JPEG" and min(img.size) == 240
    expected = frame_at(flower, 4.0, 240).reshape(-1, 3).mean(axis=0)
    assert np.abs(np.asarray(img.convert("RGB")).reshape(-1, 3).mean(axis=0) - expected).max() < 8
    assert len(list(thumbs.rglob("*.jpg"))) == before + 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached thumbnail was decoded again")

    monkeypatch.setattr("framesearch.ingest.video.frame_at", no_decoding)
    again = client.get(f"/videos/{FLOWER_ID}/thumbnail", params={"t": 4.0})
    assert again.status_code == 200 and again.content == r.content and again.headers["etag"] == etag
    revalidated = client.get(f"/videos/{FLOWER_ID}/thumbnail", params={"t": 4.0}, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.headers["etag"] == etag
    assert len(list(thumbs.rglob("*.jpg"))) == before + 1


@pytest.mark.parametrize(
    "video_id, status, error, words",
    [
        ("imported", 404, "VideoFileUnavailable", "imported without the video"),
        ("gone", 404, "VideoFileUnavailable", "not available"),
        ("no/such/video.mp4", 404, "NotFound", "no video"),
    ],
)
def test_thumbnail_and_file_say_why_there_is_no_video_file(client, video_id, status, error, words):
    for suffix in ("thumbnail", "file"):
        r = client.get(f"/videos/{video_id}/{suffix}")
        assert r.status_code == status and r.json()["error"] == error and words in r.json()["detail"]


@pytest.mark.parametrize("t", ["-1", "nan", "inf", "soon"])
def test_thumbnail_time_must_be_a_time(client, t):
    assert client.get(f"/videos/{FLOWER_ID}/thumbnail", params={"t": t}).status_code == 422


def test_thumbnail_past_the_end_is_the_last_frame(client):
    assert client.get(f"/videos/{FLOWER_ID}/thumbnail", params={"t": 999}).status_code == 200


def test_video_file_supports_range_requests(client, library):
    data = (library / "flower.mp4").read_bytes()
    full = client.get(f"/videos/{FLOWER_ID}/file")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/videos/{FLOWER_ID}/file", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.headers["content-length"] == "100"
    tail = client.get(f"/videos/{FLOWER_ID}/file", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    open_end = client.get(f"/videos/{FLOWER_ID}/file", headers={"Range": f"bytes={len(data) - 5}-"})
    assert open_end.status_code == 206 and open_end.content == data[-5:]
    beyond = client.get(f"/videos/{FLOWER_ID}/file", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize(
    "url",
    [
        "/videos/%2Fetc%2Fpasswd/file",
        "/videos/etc/passwd/file",
        "/videos/{source}/file",  # the absolute path of the indexed video's own file
        "/videos/imported/file?path=/etc/passwd",
    ],
)
def test_file_route_serves_registered_files_only(client, flower, url):
    r = client.get(url.format(source=flower))
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_media_types_from_extensions(tmp_path):
    assert media_type(tmp_path / "a.MP4") == "video/mp4"
    assert media_type(tmp_path / "a.webm") == "video/webm"
    assert media_type(tmp_path / "a.mkv") == "video/x-matroska"
    assert media_type(tmp_path / "a.unknown") == "application/octet-stream"


def test_suffix_routes_leave_the_video_record_route_alone(client):
    assert client.get(f"/videos/{FLOWER_ID}").json()["path"].endswith("flower.mp4")


def test_image_search_finds_the_frame_it_shows(client, flower):
    shot = png(frame_at(flower, 4.0))
    r = client.post("/search/image", files={"file": ("shot.png", shot, "image/png")}, data={"threshold": "0.99"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] is None and body["threshold"] == 0.99
    assert body["results"][0]["video_id"] in (FLOWER_ID, "gone")
    assert any(r["start"] <= 4.0 <= r["end"] for r in body["results"])
    yellow = png(solid_frame("yellow", (64, 48)))
    only = client.post(
        "/search/image",
        files={"file": ("y.png", yellow, "image/png")},
        data={"video_id": ["imported", FLOWER_ID], "limit": "1", "mode": "frames"},
    ).json()
    assert [(h["video_id"], round(h["score"], 3)) for h in only["results"]] == [("imported", 1.0)]


@pytest.mark.parametrize(
    "files, data, words",
    [
        ({"file": ("x.png", b"not an image", "image/png")}, {}, "not an image in a format this service reads"),
        ({"file": ("x.png", b"", "image/png")}, {}, "empty"),
        ({"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png")}, {}, "image"),
        ({"file": ("x.png", b"x", "image/png")}, {"threshold": "2"}, None),
        ({}, {"threshold": "0.5"}, None),
    ],
)
def test_image_search_rejects_bad_input_with_4xx(client, files, data, words):
    r = client.post("/search/image", files=files or None, data=data)
    assert r.status_code == 422, r.text
    if words:
        assert words in r.json()["detail"]
    assert " object at 0x" not in r.text and "<_io" not in r.text  # no Python reprs reach people


def test_decode_image_downscales_large_images():
    pixels = decode_image(png(np.zeros((3000, 2000, 3), dtype=np.uint8)))
    assert pixels.shape == (1024, 683, 3) and pixels.dtype == np.uint8


def test_more_like_this_ranks_the_frame_itself_first(client):
    seg = client.get("/search", params={"q": "red", "video_id": FLOWER_ID, "threshold": 0.5}).json()["results"][0]
    like = {"video_id": FLOWER_ID, "frame": seg["peak_frame"]}
    body = client.post("/search/similar", json={"like": like, "mode": "frames", "limit": 3}).json()
    top = body["results"][0]
    assert top["video_id"] in (FLOWER_ID, "gone") and top["score"] == pytest.approx(1.0, abs=1e-4)
    assert any(h["video_id"] == FLOWER_ID and h["frame"] == seg["peak_frame"] for h in body["results"])
    segments = client.post("/search/similar", json={"like": like, "video_id": [FLOWER_ID], "threshold": 0.99}).json()
    assert segments["mode"] == "segments" and {s["video_id"] for s in segments["results"]} == {FLOWER_ID}


@pytest.mark.parametrize(
    "body, status",
    [
        ({"like": {"video_id": FLOWER_ID, "frame": 99999}}, 404),
        ({"like": {"video_id": "nope", "frame": 0}}, 404),
        ({"like": {"video_id": FLOWER_ID, "frame": -1}}, 422),
        ({"like": {"video_id": FLOWER_ID}}, 422),
        ({}, 422),
    ],
)
def test_more_like_this_bad_input(client, body, status):
    assert client.post("/search/similar", json=body).status_code == status


def test_media_routes_are_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/videos/{video_id}/thumbnail", "/videos/{video_id}/file", "/search/image", "/search/similar"} <= set(paths)
    assert "/" not in paths


def test_image_search_without_a_local_model_is_a_clear_4xx(tmp_path, colour_results, monkeypatch):
    for name in ("ROBOFLOW_API_KEY", "FRAMESEARCH_ROBOFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(create_app(Settings(store=tmp_path / "store"))) as c:
        path = colour_results("r", [("red", 1)])
        c.post(
            "/videos/r/results",
            content=path.read_bytes(),
            params={"model": "clip/tiny-8d"},
            headers={"content-type": "application/json"},
        )
        r = c.post("/search/image", files={"file": ("y.png", png(solid_frame("yellow")), "image/png")})
        # a clip/... collection embeds query images at Roboflow Inference now, which needs a key
        assert r.status_code == 400 and r.json()["error"] == "ModelError" and "ROBOFLOW_API_KEY" in r.json()["detail"]
