"""A local stand-in for a Roboflow Inference server's CLIP endpoints (Roboflow's cloud is unreachable here).

Speaks the documented `POST /clip/embed_text?api_key=KEY` with `{"text": [...], "clip_version_id": ...}`
and answers `{"embeddings": [[...]], "time": ...}`: one 512-d vector per text. Every call is recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np


class InferenceStandIn:
    """A running stand-in: `url` to point the product at, `calls` to see what it was asked."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.calls: list[dict[str, Any]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                query = parse_qs(url.query)
                standin.calls.append({"path": url.path, "query": query, "body": body})
                if query.get("api_key") != [standin.api_key]:
                    return self._reply(401, {"message": f"invalid api key {query.get('api_key')}"})
                if url.path != "/clip/embed_text":
                    return self._reply(404, {"message": "not found"})
                texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
                rng = np.random.default_rng(len(texts))
                self._reply(200, {"embeddings": rng.normal(size=(len(texts), 512)).tolist(), "time": 0.01})

            def _reply(self, status: int, data: dict) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> InferenceStandIn:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
