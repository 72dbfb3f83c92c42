"""A local stand-in for Roboflow's Video Inference API, for tests only (Roboflow's cloud is unreachable here).

Two real HTTP servers on 127.0.0.1: the API (point `API_URL` at `standin.api_url`) and a "storage" host
on another port that serves the signed upload and output URLs the API hands back, so the client is
proven to follow those URLs wherever they point. Behaviours are set per job when it is created, from
the stand-in's defaults (`polls_to_finish`, `fail`, `slow`, `expired_outputs`, `quota`, `expire_uploads`);
a video URL with `fail=1` in it makes its own job fail.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers.server import LoopbackServers

CLIP_SPEC = {"model_id": "clip", "model_version": "1", "inference_type": "clip-embed-image"}
DEFAULT_PLAN = "green:2,red:1,blue:2"
PLAN = re.compile(r"^[a-z]+:[0-9.]+(,[a-z]+:[0-9.]+)*$")
VIDEO_FPS = 30


def signed_query(expires: int) -> str:
    """The query of a Google Cloud Storage V4 signed URL, the form Roboflow's signed URLs take (its SDK parses it)."""
    return (
        "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=standin%40roboflow.iam.gserviceaccount.com%2F20260101"
        f"%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20260101T000000Z&X-Goog-Expires={expires}"
        "&X-Goog-SignedHeaders=host&X-Goog-Signature=5ec0de"
    )


def plan_of(job: dict[str, Any]) -> str:
    """The colour plan of a job's video: an uploaded file whose text is a plan, a URL's `plan=`, or the default."""
    video = job.get("video") or b""
    text = video.decode("ascii", "replace").strip() if len(video) < 200 else ""
    if PLAN.match(text):
        return text
    plan = parse_qs(urlsplit(job["input_url"]).query).get("plan")
    return plan[0] if plan else DEFAULT_PLAN


def plan_results(embedder: Any) -> Callable[[dict[str, Any]], dict]:
    """Results JSON in Roboflow's format: each second of the plan's colours, sampled at the job's fps."""
    from tests.helpers.tiny_clip import solid_frame

    def make(job: dict[str, Any]) -> dict:
        colours: list[str] = []
        for run in plan_of(job).split(","):
            colour, seconds = run.split(":")
            colours += [colour] * round(float(seconds) * job["fps"])
        vectors = embedder.embed_images([solid_frame(c) for c in colours]).tolist()
        frames = [round(i * VIDEO_FPS / job["fps"]) for i in range(len(colours))]
        return {
            "frame_offset": frames,
            "time_offset": [round(f / VIDEO_FPS, 4) for f in frames],
            "clip": [{"time": 0.02, "embeddings": [v]} for v in vectors],
        }

    return make


class RoboflowStandIn(LoopbackServers):
    """The documented endpoints, with behaviours a test can choose."""

    def __init__(self, api_key: str, results: Callable[[dict[str, Any]], dict]) -> None:
        self.api_key = api_key
        self.results = results  # job -> results JSON
        self.polls_to_finish = 1  # status 1 for this many polls, then 0
        self.fail = False  # the job ends in status 2
        self.slow = False  # the job never finishes (until released)
        self.expired_outputs = 0  # this many output URLs answer 403 (expired) before one works
        self.quota = False  # job creation answers 429
        self.expire_uploads = False  # signed upload URLs answer 403
        self.jobs: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes | None] = {}
        self.requests: list[tuple[str, str, str]] = []  # (server, method, path) — never the query (it holds the key)
        self.keys_seen: list[str] = []
        self.lock = threading.Lock()
        self._servers = [self._server("api"), self._server("storage")]
        self.api_url = self._url(self._servers[0])
        self.storage_url = self._url(self._servers[1])

    # lifecycle

    def _server(self, role: str) -> ThreadingHTTPServer:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._dispatch(self, role, "GET")

            def do_POST(self) -> None:
                standin._dispatch(self, role, "POST")

            def do_PUT(self) -> None:
                standin._dispatch(self, role, "PUT")

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    @staticmethod
    def _url(server: ThreadingHTTPServer) -> str:
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    # controls

    def release(self, job_id: str) -> None:
        """Let a slow job finish at its next poll."""
        with self.lock:
            self.jobs[job_id]["slow"] = False
            self.jobs[job_id]["polls_to_finish"] = 0

    def only_job(self) -> dict[str, Any]:
        assert len(self.jobs) == 1, self.jobs
        return next(iter(self.jobs.values()))

    # plumbing

    def _send(self, handler: BaseHTTPRequestHandler, code: int, body: Any, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _body(self, handler: BaseHTTPRequestHandler) -> bytes:
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))

    def _dispatch(self, handler: BaseHTTPRequestHandler, role: str, method: str) -> None:
        parts = urlsplit(handler.path)
        if role == "api":  # Roboflow answers with or without the trailing slash (its Python SDK sends none)
            parts = parts._replace(path=parts.path.rstrip("/") + "/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((role, method, parts.path))
        route = getattr(self, f"_{role}_{method.lower()}")
        code, body = route(handler, parts.path, query)
        if isinstance(body, bytes):
            self._send(handler, code, body, "application/xml")
        else:
            self._send(handler, code, body)

    def _key_ok(self, query: dict[str, str]) -> tuple[int, Any] | None:
        key = query.get("api_key", "")
        self.keys_seen.append(key)
        if key != self.api_key:  # like many APIs, the error echoes the key: the client must redact it
            return 401, {"error": {"message": f"This API key does not exist (or has been revoked): {key}"}}
        return None

    # the API host

    def _api_post(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> tuple[int, Any]:
        body = self._body(handler)
        refused = self._key_ok(query)
        if refused:
            return refused
        data = json.loads(body or b"{}")
        if path == "/video_upload_signed_url/":
            if not data.get("file_name"):
                return 400, {"error": "file_name is required"}
            token = uuid.uuid4().hex
            with self.lock:
                self.uploads[token] = None
            return 200, {"signed_url": f"{self.storage_url}/upload/{token}?{signed_query(900)}"}
        if path == "/videoinfer/":
            return self._create_job(data)
        return 404, {"error": f"no route {path}"}

    def _create_job(self, data: dict[str, Any]) -> tuple[int, Any]:
        if self.quota:
            return 429, {"error": {"message": "Video inference quota exceeded for this workspace"}}
        url, fps = data.get("input_url"), data.get("infer_fps")
        if not isinstance(url, str) or not isinstance(fps, (int, float)) or fps <= 0 or data.get("models") != [CLIP_SPEC]:
            return 400, {"error": f"bad job request {data}"}
        video = None
        if url.startswith(self.storage_url):
            video = self.uploads.get(urlsplit(url).path.rsplit("/", 1)[-1])
            if video is None:
                return 400, {"error": "input_url: no video was uploaded there"}
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        with self.lock:
            self.jobs[job_id] = {
                "job_id": job_id,
                "input_url": url,
                "fps": fps,
                "video": video,
                "polls": 0,
                "fetches": 0,
                "created": time.monotonic(),
                "done": None,
                "polls_to_finish": self.polls_to_finish,
                "fail": self.fail or "fail=1" in url,
                "slow": self.slow,
                "expired_left": self.expired_outputs,
                "expired_tokens": set(),
            }
        return 200, {"job_id": job_id}

    def _api_get(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> tuple[int, Any]:
        refused = self._key_ok(query)
        if refused:
            return refused
        if path != "/videoinfer/":
            return 404, {"error": f"no route {path}"}
        with self.lock:
            job = self.jobs.get(query.get("job_id", ""))
            if job is None:
                return 404, {"error": "job not found"}
            job["polls"] += 1
            if job["fail"] and job["polls"] >= job["polls_to_finish"]:
                return 200, {"status": 2, "success": 0, "status_info": "video could not be decoded"}
            if job["slow"] or job["polls"] <= job["polls_to_finish"]:
                return 200, {"status": 1, "success": 0, "status_info": "running"}
            token = uuid.uuid4().hex
            job["done"] = job["done"] or time.monotonic()
            if job["expired_left"] > 0:
                job["expired_left"] -= 1
                job["expired_tokens"].add(token)
            output = f"{self.storage_url}/output/{job['job_id']}/{token}?{signed_query(60)}"
            return 200, {"status": 0, "success": 1, "status_info": "success", "output_signed_url": output}

    # the storage host (signed URLs; no API key)

    def _storage_put(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> tuple[int, Any]:
        body = self._body(handler)
        token = path.rsplit("/", 1)[-1]
        if not path.startswith("/upload/") or token not in self.uploads:
            return 404, b"<Error><Code>NoSuchUpload</Code></Error>"
        if self.expire_uploads:
            return 403, b"<Error><Code>ExpiredToken</Code><Message>Request has expired</Message></Error>"
        if handler.headers.get("Content-Type") != "application/octet-stream" or not body:
            return 400, b"<Error><Code>BadRequest</Code></Error>"
        with self.lock:
            self.uploads[token] = body
        return 200, b""

    def _storage_get(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> tuple[int, Any]:
        pieces = path.strip("/").split("/")
        job = self.jobs.get(pieces[1]) if len(pieces) == 3 and pieces[0] == "output" else None
        if job is None:
            return 404, b"<Error><Code>NoSuchKey</Code></Error>"
        if pieces[2] in job["expired_tokens"]:
            return 403, b"<Error><Code>ExpiredToken</Code><Message>Request has expired</Message></Error>"
        job["fetches"] += 1
        return 200, self.results(job)
