"""The settings table: one source (the Settings fields) for pydantic-settings, the README and this test.

Every environment variable of every setting has a probe below that sets it and observes the behaviour it
changes, through the real entry points (the CLI, the app, a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.settings import Settings, env_names, settings_table
from tests.conftest import ROBOFLOW_TEST_KEY, empty_collection, results_json
from tests.helpers.inference_standin import TEST_CLIP_VERSION
from tests.helpers.server import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
PROBES: dict[str, Callable[..., None]] = {}
ALL_VARIABLES = [(name, var) for name in Settings.model_fields for var in env_names(name)]


def probe(*names: str):
    def register(func: Callable[..., None]) -> Callable[..., None]:
        for name in names:
            PROBES[name] = func
        return func

    return register


def cli(env: dict[str, str], *args: str):
    return runner.invoke(app, list(args), env=env)


def write_results(folder: Path, name: str, vectors: list[list[float]]) -> Path:
    path = folder / f"{name}.json"
    frames = list(range(0, 12 * len(vectors), 12))
    path.write_text(json.dumps(results_json(frames, [f / 24 for f in frames], vectors)))
    return path


def library(folder: Path, env: dict[str, str], videos: int = 1) -> Path:
    """Index `videos` results files of 4 frames each (the same 8-d vector), returns that vector's file."""
    vector = [1.0, 0.5, 0, 0, 0, 0, 0, 0.25]
    for i in range(videos):
        path = write_results(folder, f"v{i}", [vector] * 4)
        assert cli(env, "ingest", "results", str(path), "--model", "clip/probe").exit_code == 0
    query = folder / "query.json"
    query.write_text(json.dumps(vector))
    return query


# ---- the table ----------------------------------------------------------------------------------------


def test_the_readme_shows_the_settings_table_generated_from_the_fields():
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: paste framesearch.settings.settings_table()"


def test_every_setting_is_documented():
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


@pytest.mark.parametrize("name, variable", ALL_VARIABLES, ids=[v for _, v in ALL_VARIABLES])
def test_every_variable_changes_behaviour(name, variable, request, tmp_path, monkeypatch):
    assert name in PROBES, f"no probe shows that {variable} changes behaviour"
    for other in {v for _, v in ALL_VARIABLES}:
        monkeypatch.delenv(other, raising=False)
    PROBES[name](variable=variable, tmp_path=tmp_path, request=request, monkeypatch=monkeypatch)


# ---- where the data lives -------------------------------------------------------------------------------


@probe("store")
def _store(variable, tmp_path, **_):
    library(tmp_path, {variable: str(tmp_path / "elsewhere")})
    assert (tmp_path / "elsewhere" / "frames" / "collection.json").is_file()


@probe("collection")
def _collection(variable, tmp_path, **_):
    library(tmp_path, {"FRAMESEARCH_STORE": str(tmp_path / "s"), variable: "second"})
    assert (tmp_path / "s" / "second" / "collection.json").is_file() and not (tmp_path / "s" / "frames").exists()


@probe("qdrant_url")
def _qdrant_url(variable, tmp_path, **_):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli({variable: url, "FRAMESEARCH_STORE": str(tmp_path / "s")}, "videos", "list")
    assert result.exit_code == 1 and url in result.output
    assert not (tmp_path / "s").exists()


@probe("url")
def _url(variable, tmp_path, **_):
    url = f"http://127.0.0.1:{free_port()}"  # no service answers there
    result = cli({variable: url, "FRAMESEARCH_STORE": str(tmp_path / "s")}, "videos", "list")
    assert result.exit_code == 1 and f"the framesearch service at {url} does not answer" in result.output
    assert not (tmp_path / "s").exists()


@probe("watch")
def _watch(variable, tmp_path, **_):
    missing = tmp_path / "not-there"
    result = cli(
        {variable: f"{tmp_path}{os.pathsep}{missing}", "FRAMESEARCH_STORE": str(tmp_path / "s")},
        "serve",
        "--port",
        str(free_port()),
    )
    assert result.exit_code == 1 and f"cannot watch {missing}" in result.output


class QdrantStub(BaseHTTPRequestHandler):
    """Answers the two calls `videos list` makes of an empty Qdrant server, recording the headers."""

    headers_seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        QdrantStub.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        body = {"title": "qdrant", "version": "1.16.0"} if self.path == "/" else {"exists": False}
        if self.path == "/collections":
            body = {"collections": []}
        raw = json.dumps({"result": body, "status": "ok", "time": 0.0} if self.path != "/" else body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@probe("qdrant_api_key")
def _qdrant_api_key(variable, **_):
    server = ThreadingHTTPServer(("127.0.0.1", 0), QdrantStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    QdrantStub.headers_seen = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = cli({"FRAMESEARCH_QDRANT_URL": url, variable: "qdrant-secret"}, "videos", "list")
        assert result.exit_code == 1 and f"no collection 'frames' in {url}" in result.output, result.output
        assert QdrantStub.headers_seen and all(h.get("api-key") == "qdrant-secret" for h in QdrantStub.headers_seen)
    finally:
        server.shutdown()
        server.server_close()


@probe("cache_dir")
def _cache_dir(variable, tmp_path, monkeypatch, **_):
    monkeypatch.setenv(variable, str(tmp_path / "cache-here"))
    with TestClient(app_for(Settings(store=tmp_path / "s"))):
        assert (tmp_path / "cache-here" / "jobs").is_dir() and not (tmp_path / "s" / "cache").exists()


def app_for(settings: Settings):
    from framesearch.service.app import create_app

    return create_app(settings)


# ---- search ---------------------------------------------------------------------------------------------


@probe("model")
def _model(variable, tmp_path, request, **_):
    model = str(request.getfixturevalue("tiny_clip_dir"))
    store = {"FRAMESEARCH_STORE": str(empty_collection(tmp_path / "s"))}
    assert "the library is empty" in cli(store, "search", "red").output
    result = cli({**store, variable: model}, "search", "red", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["count"] == 0


@probe("threshold")
def _threshold(variable, tmp_path, **_):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    query = library(tmp_path, env)
    default = json.loads(cli(env, "search", "--vector-file", str(query), "--json").stdout)
    chosen = json.loads(cli({**env, variable: "0.79"}, "search", "--vector-file", str(query), "--json").stdout)
    assert (default["threshold"], chosen["threshold"]) == (0.2, 0.79)
    assert "threshold" in cli({**env, variable: "7"}, "search", "--vector-file", str(query)).output


@probe("min_confidence")
def _min_confidence(variable, tmp_path, **_):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    vectors = [[i / 11, 1 - i / 11, 0, 0, 0, 0, 0, 0] for i in range(12)]  # ever closer to the query
    assert cli(env, "ingest", "results", str(write_results(tmp_path, "ramp", vectors)), "--model", "clip/p").exit_code == 0
    query = tmp_path / "query.json"
    query.write_text(json.dumps([1, 0, 0, 0, 0, 0, 0, 0]))
    args = ("search", "--vector-file", str(query), "--json", "--mode", "frames", "--limit", "100")
    default = json.loads(cli(env, *args).stdout)
    loose = json.loads(cli({**env, variable: "0.1"}, *args).stdout)
    assert (default["threshold_kind"], default["min_confidence"], loose["min_confidence"]) == (
        "calibrated",
        Settings().min_confidence,
        0.1,
    )
    assert loose["count"] > default["count"] > 0
    assert "min_confidence" in cli({**env, variable: "2"}, *args).output


@probe("limit")
def _limit(variable, tmp_path, **_):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    query = library(tmp_path, env, videos=3)
    assert json.loads(cli(env, "search", "--vector-file", str(query), "--json").stdout)["count"] == 3
    assert json.loads(cli({**env, variable: "1"}, "search", "--vector-file", str(query), "--json").stdout)["count"] == 1


@probe("hnsw_ef")
def _hnsw_ef(variable, tmp_path, **_):
    from framesearch.store.schema import INDEX

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(INDEX.index_min_frames + 1000, 64))  # indexed by the ingest: an HNSW search
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    assert cli(env, "ingest", "results", str(write_results(tmp_path, "v", vectors.tolist())), "--model", "clip/ef").exit_code == 0
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def misses(extra: dict[str, str]) -> int:
        missed = 0
        for i, q in enumerate(rng.normal(size=(12, 64))):
            path = tmp_path / f"q{i}.json"
            path.write_text(json.dumps(q.tolist()))
            found = json.loads(
                cli(
                    {**env, **extra},
                    "search",
                    "--vector-file",
                    str(path),
                    "--mode",
                    "frames",
                    "--threshold",
                    "-1",
                    "--limit",
                    "10",
                    "--json",
                ).stdout
            )["results"]
            exact = set((np.argsort(-(unit @ q))[:10] * 12).tolist())  # frame numbers of write_results
            missed += len(exact - {f["frame"] for f in found})
        return missed

    assert misses({variable: "1"}) > misses({})  # a narrow search misses true neighbours the default finds


@probe("embed_batch")
def _embed_batch(variable, tmp_path, request, monkeypatch, **_):
    from framesearch.embedders.onnx_clip import OnnxClip

    sizes: list[int] = []
    real = OnnxClip.embed_images
    monkeypatch.setattr(OnnxClip, "embed_images", lambda self, images: sizes.append(len(images)) or real(self, images))
    video = request.getfixturevalue("sample_video")  # 10 s: 20 frames at 2 fps
    model = str(request.getfixturevalue("tiny_clip_dir"))
    args = ("infer", str(video), "--fps", "2", "--model", model, "-o", str(tmp_path / "r.json"))
    assert cli({}, *args).exit_code == 0 and sizes == [20]
    sizes.clear()
    assert cli({variable: "8"}, *args).exit_code == 0 and sizes == [8, 8, 4]


@probe("models_dir")
def _models_dir(variable, tmp_path, request, **_):
    import shutil

    shutil.copytree(request.getfixturevalue("tiny_clip_dir"), tmp_path / "models" / "probe-pulled")
    env = {"FRAMESEARCH_STORE": str(empty_collection(tmp_path / "s"))}
    assert "probe-pulled" in cli(env, "--model", "probe-pulled", "search", "red").output
    env[variable] = str(tmp_path / "models")
    listed = json.loads(cli(env, "model", "list", "--json").stdout)
    assert [m["spec"] for m in listed if m["kind"] == "pulled"] == ["probe-pulled"]
    assert cli(env, "--model", "probe-pulled", "search", "red").exit_code == 0


@probe("ort_threads")
def _ort_threads(variable, request, monkeypatch, **_):
    from framesearch.embedders.resolve import text_embedder

    model = str(request.getfixturevalue("tiny_clip_dir"))
    monkeypatch.setenv(variable, "1")
    embedder = text_embedder(Settings(model=model), None)
    embedder.embed_texts(["red"])
    assert embedder._session("textual").get_session_options().intra_op_num_threads == 1


# ---- the service ----------------------------------------------------------------------------------------


@probe("host", "port")
def _host_and_port(variable, tmp_path, **_):
    import httpx

    host, port = "127.0.0.2", free_port("127.0.0.2")  # another loopback address: not the default 127.0.0.1
    env = {**os.environ, "FRAMESEARCH_STORE": str(tmp_path / "s"), "FRAMESEARCH_HOST": host, "FRAMESEARCH_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "framesearch", "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://{host}:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, 60, f"serve on {host}:{port}", interval=0.1)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@probe("workers")
def _workers(variable, tmp_path, **_):
    env = {**os.environ, "FRAMESEARCH_STORE": str(tmp_path / "s"), variable: "2"}
    done = subprocess.run(
        [sys.executable, "-m", "framesearch", "serve", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "--workers 2 needs a Qdrant server" in done.stderr  # Edge: one process per store


@probe("search_cache_mb")
def _search_cache_mb(variable, tmp_path, monkeypatch, **_):
    from framesearch.search.frame_tables import TABLES

    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    vector = [1.0, 0.5, 0, 0, 0, 0, 0, 0.25]  # the frames' vector (library())

    def reads_of_a_second_search() -> int:
        with TestClient(app_for(Settings(store=tmp_path / "s"))) as client:
            assert client.post("/search", json={"vector": vector}).json()["count"] == 2
            before = TABLES.reads
            assert client.post("/search", json={"vector": vector}).json()["count"] == 2
            return TABLES.reads - before

    library(tmp_path, env, videos=2)
    assert reads_of_a_second_search() == 0  # both videos' frames kept from the first search
    monkeypatch.setenv(variable, "0")
    assert reads_of_a_second_search() == 2  # none kept: read again


@probe("max_upload_mb")
def _max_upload_mb(variable, tmp_path, monkeypatch, **_):
    vectors = np.random.default_rng(0).normal(size=(1000, 64)).tolist()  # about 1.3 MB of JSON
    body = write_results(tmp_path, "big", vectors).read_bytes()
    assert len(body) > 1024 * 1024
    monkeypatch.setenv(variable, "1")
    with TestClient(app_for(Settings(store=tmp_path / "s"))) as client:
        answer = client.post("/videos/big/results", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 413 and answer.json()["error"] == "PayloadTooLarge"
        assert client.get("/videos").json()["count"] == 0


@probe("min_free_mb")
def _min_free_mb(variable, tmp_path, monkeypatch, **_):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    first = write_results(tmp_path, "first", [[1.0, 0, 0, 0]] * 4)
    assert cli(env, "ingest", "results", str(first), "--model", "clip/probe").exit_code == 0
    second = write_results(tmp_path, "second", [[0, 1.0, 0, 0]] * 4)
    refused = cli({**env, variable: str(10**12)}, "ingest", "results", str(second), "--model", "clip/probe")  # an EB
    assert refused.exit_code == 1 and "not enough free disk space" in refused.output
    listed = cli(env, "videos", "list", "--json")
    assert [v["video_id"] for v in json.loads(listed.output)] == ["first"]


@probe("job_workers")
def _job_workers(variable, tmp_path, request, monkeypatch, **_):
    standin = request.getfixturevalue("roboflow_standin")
    standin.slow = True
    monkeypatch.setenv("ROBOFLOW_API_KEY", ROBOFLOW_TEST_KEY)
    monkeypatch.setenv(variable, "1")
    with TestClient(app_for(Settings(store=tmp_path / "s", roboflow_poll_interval=0.02))) as client:
        ids = [
            client.post("/jobs", json={"url": f"https://example.com/{n}.mp4", "provider": "roboflow"}).json()["job_id"]
            for n in ("a", "b")
        ]
        wait_until(lambda: client.get(f"/jobs/{ids[0]}").json()["status"] == "running", what="the first job running")
        assert client.get(f"/jobs/{ids[1]}").json()["status"] == "queued"  # one worker: the second one waits
        for job in list(standin.jobs):
            standin.release(job)


# ---- Roboflow -------------------------------------------------------------------------------------------


def roboflow_cli(tmp_path: Path, env: dict[str, str], *extra: str):
    return cli(
        {"FRAMESEARCH_STORE": str(tmp_path / "s"), **env},
        "ingest",
        "roboflow",
        "https://example.com/clip.mp4",
        "--poll-interval",
        "0.02",
        *extra,
    )


@probe("roboflow_api_key")
def _roboflow_api_key(variable, tmp_path, request, **_):
    request.getfixturevalue("roboflow_standin")
    assert "needs an API key" in roboflow_cli(tmp_path, {}).output
    result = roboflow_cli(tmp_path, {variable: ROBOFLOW_TEST_KEY})
    assert result.exit_code == 0, result.output


@probe("roboflow_api_url")
def _roboflow_api_url(variable, tmp_path, request, monkeypatch, **_):
    standin = request.getfixturevalue("roboflow_standin")
    monkeypatch.delenv("API_URL", raising=False)
    result = roboflow_cli(tmp_path, {"ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY, variable: standin.api_url})
    assert result.exit_code == 0, result.output
    assert ("api", "POST", "/videoinfer/") in standin.requests


@probe("roboflow_inference_url", "roboflow_clip_version")
def _roboflow_inference(variable, tmp_path, request, **_):
    standin = request.getfixturevalue("inference_standin")
    env = {
        "FRAMESEARCH_STORE": str(empty_collection(tmp_path / "s")),
        "ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY,
        "FRAMESEARCH_ROBOFLOW_INFERENCE_URL": standin.url,
        "FRAMESEARCH_ROBOFLOW_CLIP_VERSION": TEST_CLIP_VERSION,
    }
    result = cli(env, "--model", "roboflow", "search", "a red circle")
    assert result.exit_code == 0, result.output
    # the query's text, and once per process the background captions of the absolute confidence (docs/search.md)
    assert {(c["path"], c["body"]["clip_version_id"]) for c in standin.calls} == {("/clip/embed_text", TEST_CLIP_VERSION)}


@probe("roboflow_poll_interval")
def _roboflow_poll_interval(variable, tmp_path, request, **_):
    standin = request.getfixturevalue("roboflow_standin")
    standin.polls_to_finish = 3
    env = {"ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY, "FRAMESEARCH_ROBOFLOW_TIMEOUT": "3", "FRAMESEARCH_STORE": str(tmp_path / "s")}
    url = "https://example.com/clip.mp4"
    slow = cli(env, "ingest", "roboflow", url, "--video-id", "a")  # first poll after 5 s: past the 3 s timeout
    assert slow.exit_code == 1 and "not done after 3 s" in slow.output
    fast = cli({**env, variable: "0.02"}, "ingest", "roboflow", url, "--video-id", "b")
    assert fast.exit_code == 0, fast.output


@probe("roboflow_timeout")
def _roboflow_timeout(variable, tmp_path, request, **_):
    standin = request.getfixturevalue("roboflow_standin")
    standin.slow = True
    result = roboflow_cli(tmp_path, {"ROBOFLOW_API_KEY": ROBOFLOW_TEST_KEY, variable: "0.3"})
    assert result.exit_code == 1 and "not done after 0.3 s" in result.output


# ---- access and limits ----------------------------------------------------------------------------------------


@probe("api_key")
def _api_key(variable, tmp_path, monkeypatch, **_):
    with TestClient(app_for(Settings(store=tmp_path / "open"))) as client:
        assert client.get("/videos").status_code == 200
    monkeypatch.setenv(variable, "probe-key")
    with TestClient(app_for(Settings(store=tmp_path / "s"))) as client:
        assert client.get("/videos").status_code == 401
        assert client.get("/videos", headers={"Authorization": "Bearer probe-key"}).status_code == 200
        assert client.delete("/videos/x", headers={"X-API-Key": "probe-key"}).status_code == 404  # allowed; no such video


@probe("read_api_key")
def _read_api_key(variable, tmp_path, monkeypatch, **_):
    monkeypatch.setenv(variable, "probe-read-key")
    with TestClient(app_for(Settings(store=tmp_path / "s"))) as client:
        assert client.get("/videos", headers={"X-API-Key": "probe-read-key"}).status_code == 200
        assert client.delete("/videos/x", headers={"X-API-Key": "probe-read-key"}).status_code == 403


@probe("url_allow_hosts")
def _url_allow_hosts(variable, tmp_path, request, monkeypatch, **_):
    model = str(request.getfixturevalue("tiny_clip_dir"))
    job = {"url": f"http://127.0.0.1:{free_port()}/v.mp4"}
    with TestClient(app_for(Settings(store=tmp_path / "a", model=model))) as client:
        assert client.post("/jobs", json=job).status_code == 403
    monkeypatch.setenv(variable, "example.com, 127.0.0.1")
    with TestClient(app_for(Settings(store=tmp_path / "b", model=model))) as client:
        assert client.post("/jobs", json=job).status_code == 202


@probe("cors_origins")
def _cors_origins(variable, tmp_path, monkeypatch, **_):
    search = {"vector": [1.0, 0.5, 0.25], "threshold": -1}
    page = {"Origin": "https://app.example.com"}
    local = "http://127.0.0.1:8000"  # a keyless service is reached by its address
    with TestClient(app_for(Settings(store=tmp_path / "a")), base_url=local) as client:
        assert client.post("/search", json=search, headers=page).status_code == 403
    monkeypatch.setenv(variable, "https://other.example, https://APP.example.com/")
    with TestClient(app_for(Settings(store=tmp_path / "b")), base_url=local) as client:
        answer = client.post("/search", json=search, headers=page)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "https://app.example.com"


@probe("max_image_megapixels")
def _max_image_megapixels(variable, tmp_path, request, monkeypatch, **_):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), "red").save(buffer, "PNG")
    image = {"file": ("q.png", buffer.getvalue(), "image/png")}
    model = str(request.getfixturevalue("tiny_clip_dir"))
    with TestClient(app_for(Settings(store=tmp_path / "a", model=model))) as client:
        assert client.post("/search/image", files=image).status_code == 200
    monkeypatch.setenv(variable, "0.005")
    with TestClient(app_for(Settings(store=tmp_path / "b", model=model))) as client:
        assert client.post("/search/image", files=image).status_code == 413


@probe("thumbnail_cache_mb")
def _thumbnail_cache_mb(variable, tmp_path, request, monkeypatch, **_):
    video, model = request.getfixturevalue("sample_video"), str(request.getfixturevalue("tiny_clip_dir"))
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    assert cli(env, "ingest", "local", str(video), "--model", model, "--fps", "1").exit_code == 0

    def cached_after_three() -> int:
        with TestClient(app_for(Settings(store=tmp_path / "s", model=model))) as client:
            for t in (1, 3, 5):
                assert client.get("/videos/bikes.mp4/thumbnail", params={"t": t}).status_code == 200
        return len(list((tmp_path / "s" / "cache" / "thumbs").rglob("*.jpg")))

    assert cached_after_three() == 3
    monkeypatch.setenv(variable, "0.001")
    assert cached_after_three() == 1


@probe("playback_cache_mb")
def _playback_cache_mb(variable, tmp_path, request, monkeypatch, **_):
    from tests.helpers.codec_videos import write_old_codec_video

    model = str(request.getfixturevalue("tiny_clip_dir"))
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    scenes = [("circle", "red", "white", 1.0)]
    video_ids = []
    for codec in ("cinepak", "msmpeg4"):
        video = write_old_codec_video(tmp_path, codec, scenes)
        assert cli(env, "ingest", "local", str(video), "--model", model, "--fps", "1").exit_code == 0
        video_ids.append(video.name)

    def copies_after_both() -> int:
        with TestClient(app_for(Settings(store=tmp_path / "s", model=model))) as client:
            for video_id in video_ids:
                wait_until(lambda v=video_id: client.get(f"/videos/{v}/play").status_code == 200, 30, "a copy")
        return len(list((tmp_path / "s" / "cache" / "play").glob("*.mp4")))

    assert copies_after_both() == 2
    largest = max(p.stat().st_size for p in (tmp_path / "s" / "cache" / "play").glob("*.mp4"))
    monkeypatch.setenv(variable, str(largest * 1.5 / (1 << 20)))  # room for one copy, not two
    assert copies_after_both() == 1  # the least recently played copy goes when the next one is made


def _finished_jobs(tmp_path: Path, request, monkeypatch, count: int) -> Callable[[], int]:
    request.getfixturevalue("roboflow_standin")
    monkeypatch.setenv("ROBOFLOW_API_KEY", ROBOFLOW_TEST_KEY)
    settings = {"store": tmp_path / "s", "roboflow_poll_interval": 0.02}
    with TestClient(app_for(Settings(**settings))) as client:
        for n in range(count):
            job = client.post("/jobs", json={"url": f"https://example.com/{n}.mp4", "provider": "roboflow"}).json()
            wait_until(lambda job=job: client.get(f"/jobs/{job['job_id']}").json()["status"] == "done", 30, "a job")

    def remembered() -> int:
        with TestClient(app_for(Settings(**settings))) as client:
            return client.get("/jobs").json()["count"]

    return remembered


@probe("job_history_max")
def _job_history_max(variable, tmp_path, request, monkeypatch, **_):
    remembered = _finished_jobs(tmp_path, request, monkeypatch, 2)
    assert remembered() == 2
    monkeypatch.setenv(variable, "1")
    assert remembered() == 1


@probe("job_history_days")
def _job_history_days(variable, tmp_path, request, monkeypatch, **_):
    remembered = _finished_jobs(tmp_path, request, monkeypatch, 1)
    assert remembered() == 1
    monkeypatch.setenv(variable, "0.00000001")
    assert remembered() == 0


# ---- scale out: Ray and the layout of server collections -------------------------------------------------


@probe("ray_address")
def _ray_address(variable, tmp_path, request, **_):
    request.getfixturevalue("ray_local")
    video = str(request.getfixturevalue("sample_video"))
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s")}
    here = cli(env, "ingest", "local", video, "--fps", "1", "--model", "tiny-shapes-clip")
    assert here.exit_code == 0 and "Ray" not in here.output
    on_ray = cli(
        {**env, variable: "local"}, "ingest", "local", video, "--video-id", "again", "--fps", "1", "--model", "tiny-shapes-clip"
    )
    assert on_ray.exit_code == 0, on_ray.output
    assert "on the Ray instance of this process: 1 embedding actor" in on_ray.output


class QdrantRecorder(BaseHTTPRequestHandler):
    """Answers what `ingest results` asks of an empty Qdrant server, recording each collection's creation body."""

    created: dict[str, dict] = {}

    def _answer(self, result) -> None:
        raw = json.dumps(result if self.path == "/" else {"result": result, "status": "ok", "time": 0.0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer({"title": "qdrant", "version": "1.16.3"} if self.path == "/" else {"exists": False})

    def do_PUT(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "collections":
            QdrantRecorder.created[parts[1]] = body
            return self._answer(True)
        self._answer({"operation_id": 0, "status": "completed"})

    READS = {"scroll": {"points": [], "next_page_offset": None}, "count": {"count": 0}, "facet": {"hits": []}}

    def do_POST(self) -> None:  # noqa: N802 - reads of an empty store (run markers, records) answer empty
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[-1] in self.READS or parts[-1] == "points":
            self.rfile.read(int(self.headers.get("content-length", 0)))
            return self._answer(self.READS.get(parts[-1], []))
        self.do_PUT()

    def log_message(self, *args) -> None:
        pass


LAYOUT_FIELDS = {"shards": "shard_number", "replicas": "replication_factor", "write_consistency": "write_consistency_factor"}


@probe("shards", "replicas", "write_consistency")
def _layout(variable, tmp_path, **_):
    server = ThreadingHTTPServer(("127.0.0.1", 0), QdrantRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = next(n for n in LAYOUT_FIELDS if variable == f"FRAMESEARCH_{n.upper()}")
    try:
        env = {"FRAMESEARCH_QDRANT_URL": f"http://127.0.0.1:{server.server_address[1]}"}
        results = write_results(tmp_path, "v", [[1.0, 0.5, 0, 0]] * 2)
        for setting in ({}, {variable: "2", "FRAMESEARCH_REPLICAS": "2"}):
            QdrantRecorder.created = {}
            result = cli({**env, **setting}, "ingest", "results", str(results), "--model", "clip/probe")
            assert result.exit_code == 0, result.output
            frames = QdrantRecorder.created["frames"]
            assert frames.get(LAYOUT_FIELDS[name]) == (2 if setting else None)
        assert QdrantRecorder.created["frames_videos"]["shard_number"] == 1  # the small videos collection: one shard
    finally:
        server.shutdown()
        server.server_close()


def test_the_store_defaults_to_the_users_data_folder_and_is_always_absolute(own_data_dir, tmp_path, monkeypatch):
    from platformdirs import user_data_path

    assert Settings().store == own_data_dir == user_data_path("framesearch", appauthor=False) / "library"
    monkeypatch.chdir(tmp_path)
    assert Settings(store=Path("lib")).store == tmp_path / "lib"
    monkeypatch.setenv("FRAMESEARCH_STORE", "~/elsewhere")
    assert Settings().store == Path.home() / "elsewhere"
