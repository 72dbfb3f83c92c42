"""Paths, fetches and limits of the service: no path from a client's name, URL jobs only to public addresses,
uploads refused past the limit while they stream, query images capped in pixels, a bounded thumbnail cache,
cleanup of media and job folders, a pruned job history."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from framesearch.errors import VideoFileUnavailable
from framesearch.service.app import create_app
from framesearch.service.fetch import is_public
from framesearch.service.media import record_file
from framesearch.settings import Settings
from framesearch.store.schema import VideoRecord
from tests.conftest import ROBOFLOW_TEST_KEY
from tests.helpers.server import running_service, wait_until

ROOT = Path(__file__).resolve().parents[1]


def wait_for(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    def finished() -> dict | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if job["status"] in ("done", "failed") else None

    return wait_until(finished, timeout, f"job {job_id} finishing")


def post_video(client: TestClient, path: Path, name: str | None = None, **fields) -> dict:
    with path.open("rb") as handle:
        answer = client.post("/jobs", files={"file": (name or path.name, handle, "video/mp4")}, data=fields)
    assert answer.status_code == 202, answer.text
    return answer.json()


def media_files(work: Path) -> list[str]:
    return sorted(p.name for p in (work / "media").glob("*")) if (work / "media").is_dir() else []


# ---- no path from a client's name -----------------------------------------------------------------------------


def test_an_uploads_name_never_becomes_the_served_file(tmp_path, roboflow_standin, sample_video, monkeypatch):
    """The issue's case: a Roboflow job's upload named like a file in the service's working folder."""
    monkeypatch.chdir(ROOT)
    settings = Settings(store=tmp_path / "store", roboflow_api_key=ROBOFLOW_TEST_KEY, roboflow_poll_interval=0.02)
    with TestClient(create_app(settings)) as client:
        job = post_video(client, sample_video, name="pyproject.toml", provider="roboflow", video_id="x")
        assert wait_for(client, job["job_id"])["status"] == "done"
        record = client.get("/videos/x").json()
        assert Path(record["path"]).is_absolute() and Path(record["path"]).parent == settings.work_dir / "media"
        served = client.get("/videos/x/file")
        assert served.status_code == 200 and served.content == sample_video.read_bytes()  # the upload, playable
        assert b"[build-system]" not in served.content


def test_a_record_naming_a_relative_path_is_never_served(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    record = VideoRecord(video_id="x", model="m", source="roboflow", frames=1, path="pyproject.toml")
    with pytest.raises(VideoFileUnavailable, match="not an absolute path"):
        record_file(record)


# ---- URL jobs: public addresses only ----------------------------------------------------------------------------


class Origin(BaseHTTPRequestHandler):
    """A loopback web server: /video.mp4, redirects, a redirect loop and a too-large body."""

    video = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path.split("?", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(301)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            body = self.video if self.path == "/video.mp4" else os.urandom(3 * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def origin(sample_video) -> Iterator[str]:
    Origin.video = sample_video.read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def local_jobs(tmp_path, tiny_clip_dir):
    def make(**settings) -> TestClient:
        return TestClient(create_app(Settings(store=tmp_path / "store", model=str(tiny_clip_dir), **settings)))

    return make


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "0.0.0.0",
        "10.1.2.3",
        "169.254.169.254",
        "192.168.1.1",
        "[::ffff:127.0.0.1]",
        "[fe80::1]",
        "224.0.0.1",
    ],
)
def test_url_jobs_to_this_machine_or_private_networks_are_refused(local_jobs, origin, host):
    port = origin.split(":")[1]
    with local_jobs() as client:
        answer = client.post("/jobs", json={"url": f"http://{host}:{port}/video.mp4"})
        assert answer.status_code == 403 and "FRAMESEARCH_URL_ALLOW_HOSTS" in answer.json()["detail"]
        assert client.get("/jobs").json()["count"] == 0


@pytest.mark.parametrize("spelling", ["2130706433", "127.1", "0x7f000001"])
def test_names_are_checked_where_they_are_dialled(local_jobs, origin, spelling):
    """Other spellings of 127.0.0.1 pass the quick check as names; the connection refuses them."""
    with local_jobs() as client:
        job = client.post("/jobs", json={"url": f"http://{spelling}:{origin.split(':')[1]}/video.mp4"}).json()
        failed = wait_for(client, job["job_id"])
        assert failed["status"] == "failed" and "not a public address" in failed["error"]
        assert client.get("/videos").json()["count"] == 0


def test_allowed_hosts_are_fetched_and_every_redirect_is_checked(local_jobs, origin):
    port = origin.split(":")[1]
    with local_jobs(url_allow_hosts=["127.0.0.1"]) as client:
        ok = client.post("/jobs", json={"url": f"http://{origin}/video.mp4", "fps": 1, "video_id": "fetched"})
        done = wait_for(client, ok.json()["job_id"])
        assert done["status"] == "done" and done["frames"] == 10
        assert client.get("/videos/fetched/file").status_code == 200
        to_other = f"http://{origin}/to?http://2130706433:{port}/video.mp4"  # an allowed host sends us elsewhere
        bounced = wait_for(client, client.post("/jobs", json={"url": to_other}).json()["job_id"])
        assert bounced["status"] == "failed" and "not a public address" in bounced["error"]
        to_localhost = wait_for(
            client, client.post("/jobs", json={"url": f"http://{origin}/to?http://localhost:{port}/v"}).json()["job_id"]
        )
        assert to_localhost["status"] == "failed" and "this machine" in to_localhost["error"]
        looping = wait_for(client, client.post("/jobs", json={"url": f"http://{origin}/loop"}).json()["job_id"])
        assert looping["status"] == "failed" and "more than 5 redirects" in looping["error"]
        to_file = wait_for(client, client.post("/jobs", json={"url": f"http://{origin}/to?file:///etc/passwd"}).json()["job_id"])
        assert to_file["status"] == "failed" and "http or https" in to_file["error"]
        assert {v["video_id"] for v in client.get("/videos").json()["videos"]} == {"fetched"}


def test_downloads_stop_at_the_size_limit_and_leave_nothing(local_jobs, origin, tmp_path):
    with local_jobs(url_allow_hosts=["127.0.0.1"], max_upload_mb=1) as client:
        job = wait_for(client, client.post("/jobs", json={"url": f"http://{origin}/big.mp4"}).json()["job_id"])
        assert job["status"] == "failed" and "larger than 1 MB" in job["error"]
    work = tmp_path / "store" / "cache"
    assert not list((work / "jobs").glob("*/download*")) and media_files(work) == []


def test_roboflow_url_jobs_are_fetched_by_roboflow_not_here(tmp_path, roboflow_standin):
    settings = Settings(store=tmp_path / "store", roboflow_api_key=ROBOFLOW_TEST_KEY, roboflow_poll_interval=0.02)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/jobs", json={"url": "http://10.0.0.5/cam.mp4", "provider": "roboflow"})
        assert answer.status_code == 202 and wait_for(client, answer.json()["job_id"])["status"] == "done"


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("100.64.0.1", False),
        ("239.1.1.1", False),
        ("fc00::1", False),
        ("240.0.0.1", False),
    ],
)
def test_what_counts_as_public(address, public):
    assert is_public(address) is public


# ---- upload and image limits ------------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def test_query_images_past_the_pixel_cap_are_refused_before_decoding(local_jobs):
    with local_jobs(max_image_megapixels=1) as client:
        refused = client.post("/search/image", files={"file": ("big.png", png(1100, 1000), "image/png")})
        assert refused.status_code == 413 and "1 megapixels" in refused.json()["detail"]
        assert client.post("/search/image", files={"file": ("ok.png", png(1000, 1000), "image/png")}).status_code == 200


@pytest.mark.parametrize("route", ["/videos/x/results", "/jobs", "/search/image"])
def test_uploads_past_the_limit_are_refused_while_they_stream(local_jobs, tmp_path, route):
    def body() -> Iterator[bytes]:  # chunked: no length declared, so only counting can stop it
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        for _ in range(40):
            yield b"x" * (128 * 1024)

    with local_jobs(max_upload_mb=1) as client:
        answer = client.post(route, content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
        assert answer.status_code == 413 and answer.json()["error"] == "PayloadTooLarge"
        declared = client.post(route, content=b"x" * 10, headers={"content-length": str(50 * 1024 * 1024)})
        assert declared.status_code == 413
        assert client.get("/videos").json()["count"] == 0 and client.get("/jobs").json()["count"] == 0
    assert not any((tmp_path / "store" / "cache" / "jobs").iterdir())


def test_other_bodies_are_small(local_jobs):
    with local_jobs() as client:
        answer = client.post(
            "/search", content=b'{"q": "' + b"a" * (2 * 1024 * 1024) + b'"}', headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads peak memory from /proc")
def test_hostile_uploads_do_not_grow_the_servers_memory(tmp_path, tiny_clip_dir):
    """The issue measured 2.6 GB for one 13000x13000 PNG (0.5 MB) and 1.3 GB for a 183 MB results upload."""
    bomb = png(13000, 13000)
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s"), "FRAMESEARCH_MODEL": str(tiny_clip_dir), "FRAMESEARCH_MAX_UPLOAD_MB": "16"}
    with running_service(env, tmp_path / "log") as service:
        assert httpx.post(f"{service.base}/search/image", files={"file": ("ok.png", png(64, 64), "image/png")}).status_code == 200
        before = peak_rss_mb(service.proc.pid)
        for _ in range(4):
            answer = httpx.post(f"{service.base}/search/image", files={"file": ("bomb.png", bomb, "image/png")})
            assert answer.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b" " * (1024 * 1024)

        answer = httpx.post(f"{service.base}/videos/big/results", content=chunks(), timeout=60)
        assert answer.status_code == 413
        grown = peak_rss_mb(service.proc.pid) - before
    print(f"peak memory growth: {grown:.1f} MB")
    assert grown < 100, f"the server's peak memory grew by {grown:.0f} MB"


# ---- thumbnails: bounded cache, times snapped to indexed frames -------------------------------------------------


def test_the_thumbnail_cache_stays_within_its_size_and_snaps_times(local_jobs, sample_video, tmp_path):
    with local_jobs(thumbnail_cache_mb=0.01) as client:
        job = post_video(client, sample_video, fps="2", provider="local")
        assert wait_for(client, job["job_id"])["status"] == "done"
        first = client.get("/videos/bikes.mp4/thumbnail", params={"t": 1.0})
        for t in (1.01, 1.1, 0.9, 1.2):  # all nearest to the indexed frame at 1.0 s (frames every 0.5 s)
            again = client.get("/videos/bikes.mp4/thumbnail", params={"t": t})
            assert again.headers["etag"] == first.headers["etag"] and again.content == first.content
        thumbs = tmp_path / "store" / "cache" / "thumbs"
        sizes = []
        for i in range(20):
            assert client.get("/videos/bikes.mp4/thumbnail", params={"t": i * 0.5}).status_code == 200
            sizes.append(sum(p.stat().st_size for p in thumbs.rglob("*.jpg")))
        largest = max(len(client.get("/videos/bikes.mp4/thumbnail", params={"t": i * 0.5}).content) for i in range(20))
        assert max(sizes) <= 0.01 * 1024 * 1024 + largest
        assert len(list(thumbs.rglob("*.jpg"))) < 20  # evicted, least recently used first
        assert client.get("/videos/bikes.mp4/thumbnail", params={"t": 9.5}).status_code == 200


# ---- cleanup: media, job folders, history -----------------------------------------------------------------------


def test_media_of_failed_deleted_and_replaced_videos_is_removed(local_jobs, sample_video, tmp_path):
    work = tmp_path / "store" / "cache"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4096))
    with local_jobs() as client:
        failed = wait_for(client, post_video(client, broken, provider="local")["job_id"])
        assert failed["status"] == "failed" and media_files(work) == []
        first = wait_for(client, post_video(client, sample_video, fps="1", provider="local")["job_id"])
        kept = media_files(work)
        assert first["status"] == "done" and len(kept) == 1
        again = wait_for(client, post_video(client, sample_video, fps="1", provider="local")["job_id"])
        assert again["status"] == "done" and len(media_files(work)) == 1 and media_files(work) != kept  # replaced
        assert client.get("/videos/bikes.mp4/file").status_code == 200
        assert client.delete("/videos/bikes.mp4").status_code == 200
        assert media_files(work) == []


def test_a_restart_sweeps_interrupted_uploads_and_media_nothing_needs(local_jobs, sample_video, tmp_path):
    work = tmp_path / "store" / "cache"
    with local_jobs() as client:
        assert wait_for(client, post_video(client, sample_video, fps="1", provider="local")["job_id"])["status"] == "done"
    needed = media_files(work)
    (work / "jobs" / "cut-off").mkdir()
    (work / "jobs" / "cut-off" / "upload.mp4").write_bytes(b"half an upload")
    (work / "media" / "orphan.mp4").write_bytes(b"a video nobody indexes any more")
    with local_jobs() as client:
        assert client.get("/videos/bikes.mp4/file").status_code == 200
    assert not (work / "jobs" / "cut-off").exists() and media_files(work) == needed


def test_the_job_history_is_pruned_by_count_and_age(tmp_path, roboflow_standin):
    base = {"store": tmp_path / "store", "roboflow_api_key": ROBOFLOW_TEST_KEY, "roboflow_poll_interval": 0.02}
    with TestClient(create_app(Settings(**base, job_history_max=2))) as client:
        ids = []
        for n in range(3):
            ids.append(client.post("/jobs", json={"url": f"https://e.com/{n}.mp4", "provider": "roboflow"}).json()["job_id"])
            assert wait_for(client, ids[-1])["status"] == "done"
        assert [j["job_id"] for j in client.get("/jobs").json()["jobs"]] == ids[:0:-1]
        assert client.get(f"/jobs/{ids[0]}").status_code == 404
    assert sorted(p.name for p in (tmp_path / "store" / "cache" / "jobs").iterdir()) == sorted(ids[1:])
    with TestClient(create_app(Settings(**base, job_history_days=1e-9))) as client:
        assert client.get("/jobs").json()["count"] == 0


# ---- videos whose headers lie ------------------------------------------------------------------------------


def lying_mp4(source: Path, target: Path) -> Path:
    """`source` with its movie, media and track headers claiming time bases of 1 s and a length of 2^32 - 16 of
    them: FFmpeg then places its frames hundreds of seconds apart, over thousands of seconds."""
    import struct

    data = bytearray(source.read_bytes())
    for atom in (b"mvhd", b"mdhd", b"tkhd"):
        at = data.find(atom)
        while at >= 0:
            if data[at + 4] == 0:  # version 0: 32-bit times
                if atom == b"tkhd":  # version/flags, created, modified, track id, reserved, duration
                    struct.pack_into(">I", data, at + 24, 0xFFFFFFF0)
                else:  # version/flags, created, modified, time scale, duration
                    struct.pack_into(">II", data, at + 16, 1, 0xFFFFFFF0)
            at = data.find(atom, at + 1)
    target.write_bytes(bytes(data))
    return target


def y4m(path: Path, width: int, height: int, payload: int) -> Path:
    """A raw YUV4MPEG2 video whose header claims `width` x `height` frames, followed by `payload` bytes only."""
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x80" * payload)
    return path


@pytest.mark.slow
def test_videos_whose_headers_claim_absurd_sizes_or_lengths(tmp_path, sample_video, tiny_clip_dir):
    """A header claiming 30000x30000 pixels is refused as unreadable; 16000x16000 with 100 kB of data decodes no
    frame (`no frames to index`); an MP4 whose header stretches its 10 s over thousands of seconds indexes the frames it
    holds at their claimed times (the disk check and progress bound nothing: the frames decoded do). Each in bounded memory (the
    frames are decoded and scaled one at a time: FFmpeg refuses pictures past INT_MAX/8 bytes outright)."""
    from typer.testing import CliRunner

    from framesearch.cli import app

    runner = CliRunner()
    store = tmp_path / "store"

    def ingest(path: Path):
        return runner.invoke(app, ["--store", str(store), "--model", str(tiny_clip_dir), "ingest", "local", str(path), "--json"])

    for path, words in (
        (y4m(tmp_path / "huge.y4m", 30000, 30000, 1000), "not a readable video"),
        (y4m(tmp_path / "big.y4m", 16000, 16000, 100_000), "no frames to index"),
    ):
        done = ingest(path)
        assert done.exit_code == 1 and words in done.output, done.output
    import json

    import av

    lying = lying_mp4(sample_video, tmp_path / "lying.mp4")
    with av.open(str(lying)) as container:
        assert container.duration / 1e6 > 1000  # what it claims
    done = ingest(lying)
    assert done.exit_code == 0, done.output
    listed = json.loads(runner.invoke(app, ["--store", str(store), "videos", "list", "--json"]).stdout)
    assert listed[0]["video_id"] == "lying.mp4" and 1 <= listed[0]["frames"] <= 100  # at most its 100 frames
