"""A local stand-in for a Roboflow Inference server's CLIP endpoints (Roboflow's cloud is unreachable here).

It speaks Roboflow's documented protocol: `POST /clip/embed_text` with `{"text": str | [str], "clip_version_id"}`
and `POST /clip/embed_image` with `{"image": {"type": "base64", "value": ...} | [...], "clip_version_id"}`,
the key as the `api_key` query parameter (hosted API), in the JSON body (Roboflow's SDK toward a self-hosted
server) or as `Authorization: Bearer`; it answers `ClipEmbeddingResponse`:
`{"embeddings": [[...]], "time": s, "frame_id": null, "inference_id": ...}`. The vectors are REAL: each
served `clip_version_id` is a CLIP model folder run through framesearch's own loader (by default the bundled
tiny model under the test version id `TEST_CLIP_VERSION`). Every call is recorded in `calls`.

Faults a test can set: `failures` (the next N requests answer 503), `concurrent` (the first N embed requests
wait, bounded, until N are in flight at once, and `saw_concurrent` records whether they were).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from tests.helpers.server import LoopbackServers

TEST_CLIP_VERSION = "tiny-shapes-test"  # vectors recorded as clip/tiny-shapes-test


def bundled_tiny() -> Any:
    from framesearch.embedders.onnx_clip import OnnxClip
    from framesearch.embedders.resolve import bundled_models_dir

    return OnnxClip(Path(bundled_models_dir()) / "tiny-shapes-clip", threads=1)


def decode_image(item: Any) -> np.ndarray:
    """An `InferenceRequestImage` of type base64 as RGB pixels."""
    from PIL import Image

    if not isinstance(item, dict) or item.get("type") != "base64" or not isinstance(item.get("value"), str):
        raise ValueError(f"unsupported image {str(item)[:80]}: this stand-in takes {{'type': 'base64', 'value': ...}}")
    value = item["value"].split(",", 1)[-1]  # a data URL is accepted too
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(value))).convert("RGB"))


class InferenceStandIn(LoopbackServers):
    """A running stand-in: `url` to point the product at, `calls` to see what it was asked."""

    def __init__(self, api_key: str, versions: dict[str, Any] | None = None) -> None:
        self.api_key = api_key
        self.versions = versions if versions is not None else {TEST_CLIP_VERSION: bundled_tiny()}
        self.calls: list[dict[str, Any]] = []
        self.failures = 0
        self.concurrent = 0
        self.saw_concurrent: bool | None = None
        self._barrier: threading.Barrier | None = None
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                status, body = standin.answer(self)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._servers = [server]
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def images_per_call(self) -> list[int]:
        """How many images each successful embed_image call carried."""
        return [c["images"] for c in self.calls if c["path"] == "/clip/embed_image" and c["status"] == 200]

    def _key(self, handler: BaseHTTPRequestHandler, query: dict, body: Any) -> str | None:
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        if isinstance(body, dict) and body.get("api_key"):
            return str(body["api_key"])
        return query.get("api_key", [None])[0]

    def answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict]:
        url = urlparse(handler.path)
        query = parse_qs(url.query)
        try:
            body = json.loads(handler.rfile.read(int(handler.headers["content-length"])))
        except ValueError:
            body = None
        call: dict[str, Any] = {"path": url.path, "query": query, "body": body, "images": 0}
        with self._lock:
            self.calls.append(call)
            failing = self.failures > 0
            self.failures -= failing
        call["status"], reply = self._answer(handler, url.path, query, body, call, failing)
        return call["status"], reply

    def _answer(self, handler, path: str, query: dict, body: Any, call: dict, failing: bool) -> tuple[int, dict]:
        if failing:
            return 503, {"message": "Service Unavailable"}
        if self._key(handler, query, body) != self.api_key:
            return 401, {"message": "Unauthorized api_key"}
        if path not in ("/clip/embed_text", "/clip/embed_image") or not isinstance(body, dict):
            return 404, {"message": "Not Found"}
        version = body.get("clip_version_id") or "ViT-B-16"
        model = self.versions.get(version)
        if model is None:
            return 400, {"message": f"clip_version_id {version!r} is not served here ({', '.join(self.versions)})"}
        try:
            if path == "/clip/embed_text":
                texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
                vectors = model.embed_texts([str(t) for t in texts])
            else:
                items = body["image"] if isinstance(body["image"], list) else [body["image"]]
                images = [decode_image(i) for i in items]
                call["images"] = len(images)
                self._meet_others()
                vectors = model.embed_images(images)
        except (KeyError, ValueError, OSError) as exc:
            return 422, {"detail": [{"msg": str(exc)[:200], "type": "value_error"}]}
        return 200, {"embeddings": vectors.tolist(), "time": 0.01, "frame_id": None, "inference_id": str(uuid.uuid4())}

    def _meet_others(self) -> None:
        """Hold the first `concurrent` image requests until they are all in flight (bounded wait)."""
        with self._lock:
            if self.concurrent > 1 and self._barrier is None:
                self._barrier = threading.Barrier(self.concurrent)
            barrier = self._barrier
        if barrier is None or self.saw_concurrent is not None:
            return
        try:
            barrier.wait(timeout=10)
            self.saw_concurrent = True
        except threading.BrokenBarrierError:
            self.saw_concurrent = False
