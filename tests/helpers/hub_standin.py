"""A local stand-in for the Hugging Face Hub's HTTP API (the Hub is unreachable here), for `model pull` tests.

It serves what the real `huggingface_hub` client asks when `HF_ENDPOINT` points at it:
`GET /api/models/{repo}[/revision/{rev}]` (repo info with the commit sha), `GET /api/models/{repo}/tree/{rev}`
(files with their git blob ids and LFS sha256), `HEAD|GET /{repo}/resolve/{rev}/{path}` (small files inline
with `X-Repo-Commit` and `ETag`; LFS files as a redirect to a CDN path with `X-Linked-Etag`/`X-Linked-Size`),
and `GET /cdn/{sha256}` on a second origin (as the Hub's CDN is) with byte ranges (so resumed downloads can be
seen). Errors carry the Hub's `X-Error-Code` header. Faults a test can set: `cut_after` (the next CDN download
drops after that many bytes) and `corrupt` (paths whose served bytes differ from their published checksum).

`immich_layout(...)` lays out a model folder the way Immich publishes CLIP exports on the Hub.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.helpers.server import LoopbackServers

LFS_SUFFIXES = (".onnx", ".armnn", ".bin")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubStandIn(LoopbackServers):
    """Repositories in memory: `add_repo(repo_id, folder)` publishes a folder's files as one commit on `main`."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}  # repo_id -> {"sha", "files": {path: bytes}}
        self.blobs: dict[str, bytes] = {}  # sha256 -> bytes (the CDN)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_after: int | None = None
        self.corrupt: set[str] = set()
        self.lock = threading.Lock()
        self._servers = [self._server("hub"), self._server("cdn")]  # LFS files come from another origin
        self.url, self.cdn_url = (f"http://127.0.0.1:{srv.server_address[1]}" for srv in self._servers)

    def _server(self, role: str) -> ThreadingHTTPServer:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                standin._dispatch(self, "GET", role)

            def do_HEAD(self) -> None:  # noqa: N802
                standin._dispatch(self, "HEAD", role)

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def add_repo(self, repo_id: str, folder: Path) -> str:
        """Publish every file under `folder`; returns the commit sha."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        sha = hashlib.sha1(json.dumps(sorted((k, git_blob_id(v)) for k, v in files.items())).encode()).hexdigest()
        with self.lock:
            self.repos[repo_id] = {"sha": sha, "files": files}
            for path, data in files.items():
                if path.endswith(LFS_SUFFIXES):
                    self.blobs[hashlib.sha256(data).hexdigest()] = data
        return sha

    # plumbing

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        code: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        head: bool = False,
        length: int | None = None,
    ) -> None:
        handler.send_response(code)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _error(self, handler: BaseHTTPRequestHandler, code: int, error_code: str, message: str, head: bool) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(handler, code, body, {"Content-Type": "application/json", "X-Error-Code": error_code}, head)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str, role: str) -> None:
        path = unquote(urlsplit(handler.path).path)
        with self.lock:
            self.requests.append((method, path, handler.headers.get("Range")))
        head = method == "HEAD"
        if role == "cdn":
            return self._cdn(handler, path.removeprefix("/cdn/"), head)
        if path.startswith("/api/models/"):
            return self._api(handler, path.removeprefix("/api/models/"), head)
        if "/resolve/" in path:
            return self._resolve(handler, path.strip("/"), head)
        self._error(handler, 404, "EntryNotFound", f"no route {path}", head)

    def _repo(self, parts: list[str]) -> tuple[str, dict[str, Any] | None]:
        repo_id = "/".join(parts[:2])
        return repo_id, self.repos.get(repo_id)

    def _revision_ok(self, repo: dict[str, Any], revision: str) -> bool:
        return revision in ("main", repo["sha"])

    def _api(self, handler: BaseHTTPRequestHandler, rest: str, head: bool) -> None:
        parts = rest.split("/")
        repo_id, repo = self._repo(parts)
        if repo is None:
            return self._error(handler, 404, "RepoNotFound", f"Repository {repo_id} not found", head)
        tail = parts[2:]
        revision = tail[1] if len(tail) >= 2 else "main"
        if not self._revision_ok(repo, revision):
            return self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        if not tail or tail[0] == "revision":
            siblings = [{"rfilename": p} for p in repo["files"]]
            body = {"id": repo_id, "modelId": repo_id, "sha": repo["sha"], "private": False, "siblings": siblings}
        elif tail[0] == "tree":
            body = self._tree(repo)
        else:
            return self._error(handler, 404, "EntryNotFound", f"no route {rest}", head)
        self._send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _tree(self, repo: dict[str, Any]) -> list[dict[str, Any]]:
        entries, folders = [], set()
        for path, data in repo["files"].items():
            parent = path.rpartition("/")[0]
            while parent:
                folders.add(parent)
                parent = parent.rpartition("/")[0]
            entry: dict[str, Any] = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": path}
            if path.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)]
        return entries

    def _resolve(self, handler: BaseHTTPRequestHandler, path: str, head: bool) -> None:
        parts = path.split("/")
        repo_id, repo = self._repo(parts)
        if repo is None or len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, 404, "RepoNotFound", f"Repository {repo_id} not found", head)
        if not self._revision_ok(repo, parts[3]):
            return self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {parts[3]}", head)
        filename = "/".join(parts[4:])
        data = repo["files"].get(filename)
        if data is None:
            return self._error(handler, 404, "EntryNotFound", f"{filename} does not exist", head)
        common = {"X-Repo-Commit": repo["sha"]}
        if filename.endswith(LFS_SUFFIXES):
            sha256 = hashlib.sha256(data).hexdigest()
            headers = {
                **common,
                "Location": f"{self.cdn_url}/cdn/{sha256}?file={filename}",
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(data)),
                "ETag": f'"{git_blob_id(data)}"',
            }
            return self._send(handler, 302, b"", headers, head)
        body = self._served(filename, data)
        self._send(handler, 200, body, {**common, "ETag": f'"{git_blob_id(data)}"'}, head)

    def _served(self, filename: str, data: bytes) -> bytes:
        return data[::-1] if filename in self.corrupt else data

    def _cdn(self, handler: BaseHTTPRequestHandler, rest: str, head: bool) -> None:
        data = self.blobs.get(rest)
        if data is None:
            return self._error(handler, 404, "EntryNotFound", "no such blob", head)
        filename = urlsplit(handler.path).query.removeprefix("file=")
        body = self._served(unquote(filename), data)
        start = 0
        ranged = handler.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged.removeprefix("bytes=").split("-")[0] or 0)
        code = 206 if start else 200
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "ETag": f'"{rest}"'}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        part = body[start:]
        with self.lock:
            cut, self.cut_after = (self.cut_after, None) if not head else (None, self.cut_after)
        if cut is not None and cut < len(part):  # announce it all, send some, drop the connection
            self._send(handler, code, part[:cut], headers, head, length=len(part))
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        self._send(handler, code, part, headers, head)


def immich_layout(model: Path, out: Path, *, fixed_batch: bool = True) -> Path:
    """Lay out a framesearch model folder the way Immich publishes open_clip exports on the Hub: open_clip's
    config.json, `visual/model.onnx` + `visual/preprocess_cfg.json`, `textual/model.onnx` taking int32 `text`
    (batch fixed at 1, as Immich exports it), the tokenizer files, a README and an ARM NN file not to download."""
    import onnx
    from onnx import TensorProto, helper

    config = json.loads((model / "config.json").read_text())
    (out / "visual" / "fp16").mkdir(parents=True)
    (out / "textual").mkdir()
    visual = onnx.load(str(model / "visual.onnx"))
    textual = onnx.load(str(model / "textual.onnx"))
    if fixed_batch:
        for graph in (visual.graph, textual.graph):
            graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    ids = textual.graph.input[0]
    shape = [d.dim_value or d.dim_param for d in ids.type.tensor_type.shape.dim]
    textual.graph.node.insert(0, helper.make_node("Cast", ["text"], [ids.name], to=TensorProto.INT64))
    textual.graph.input.remove(ids)
    textual.graph.input.insert(0, helper.make_tensor_value_info("text", TensorProto.INT32, shape))
    onnx.checker.check_model(textual)
    onnx.save(visual, str(out / "visual" / "model.onnx"))
    onnx.save(textual, str(out / "textual" / "model.onnx"))
    size = config["image_size"]
    open_clip_config = {
        "embed_dim": config["embed_dim"],
        "vision_cfg": {"image_size": size, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": config["context_length"], "vocab_size": 25, "width": 64, "heads": 4, "layers": 2},
    }
    preprocess = {
        "size": [size, size],
        "mode": "RGB",
        "mean": config["image_mean"],
        "std": config["image_std"],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
    (out / "config.json").write_text(json.dumps(open_clip_config, indent=2))
    (out / "visual" / "preprocess_cfg.json").write_text(json.dumps(preprocess, indent=2))
    shutil.copy(model / "tokenizer.json", out / "textual" / "tokenizer.json")
    (out / "textual" / "tokenizer_config.json").write_text(json.dumps({"model_max_length": config["context_length"]}))
    (out / "textual" / "special_tokens_map.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    (out / "visual" / "fp16" / "model.armnn").write_bytes(b"\0" * 4096)
    (out / "README.md").write_text("---\ntags:\n - immich\n - clip\n---\n# A test model in Immich's layout\n")
    (out / ".gitattributes").write_text("*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    return out
