"""Roboflow over HTTP: one base for every Roboflow client (key, redaction, error mapping), and its CLIP.

`RoboflowHTTP` sends the key as the `api_key` parameter, keeps it out of every error and log line
(httpx logs request URLs), and maps answers to domain errors the same way for every endpoint:
401/403 a refused key, 402/429 quota, 5xx or unreachable `UpstreamUnavailable` (worth retrying),
other 4xx `UpstreamError`. `RoboflowClipText` asks Roboflow Inference's `POST /clip/embed_text`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.errors import ModelError, UpstreamError, UpstreamUnavailable
from framesearch.vectors import normalize

KEY_HINT = "set ROBOFLOW_API_KEY (or FRAMESEARCH_ROBOFLOW_API_KEY)"


def redact(text: str, secret: str | None) -> str:
    """Remove an API key from text bound for logs or errors."""
    return text.replace(secret, "***") if secret else text


class _Redactor(logging.Filter):
    """Scrubs registered secrets from httpx's request log lines (they carry the URL and its query)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for secret in self.secrets:
                message = redact(message, secret)
            record.msg, record.args = message, ()
        return True


_REDACTOR = _Redactor()
_REDACTOR_LOCK = threading.Lock()


def guard_logs(secret: str) -> None:
    """Keep `secret` out of httpx's log lines from now on."""
    with _REDACTOR_LOCK:
        if not _REDACTOR.secrets:
            logging.getLogger("httpx").addFilter(_REDACTOR)
        _REDACTOR.secrets.add(secret)


def host_of(url: str) -> str:
    return urlsplit(url).netloc or "?"


class RoboflowHTTP:
    """What every Roboflow client shares: the key, the base URL, one httpx client and one error mapping."""

    service = "Roboflow API"

    def __init__(
        self, api_key: str | None, base_url: str, *, timeout: float = 60.0, client: httpx.Client | None = None
    ) -> None:
        if not api_key:
            raise ModelError(f"{self.service} needs an API key: {KEY_HINT}")
        self._key = api_key
        guard_logs(api_key)
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def clean(self, text: str) -> str:
        """`text` without the key."""
        return redact(text, self._key)

    def _detail(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            err = body.get("error")
            message = err.get("message") if isinstance(err, dict) else err or body.get("message")
            text = str(message) if message else ""
        else:
            text = response.text.strip()
        return f": {self.clean(text[:300])}" if text else ""

    def check(self, response: httpx.Response, what: str, transient: tuple[int, ...] = ()) -> None:
        """Raise the domain error an error answer means; `transient` codes count as temporary trouble."""
        code = response.status_code
        if code < 400:
            return
        detail = self._detail(response)
        if code >= 500 or code in transient:
            raise UpstreamUnavailable(f"Roboflow {what}: HTTP {code}{detail}")
        if code in (401, 403):
            raise UpstreamError(f"Roboflow refused the API key ({what}: HTTP {code}){detail}; {KEY_HINT}")
        if code in (402, 429):
            raise UpstreamError(f"Roboflow quota or rate limit reached ({what}: HTTP {code}){detail}")
        raise UpstreamError(f"Roboflow {what} failed: HTTP {code}{detail}")

    def request_json(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict | None = None,
        body: Any = None,
        transient: tuple[int, ...] = (),
    ) -> Any:
        """Call an endpoint of the base URL with the key; returns the decoded JSON answer."""
        try:
            response = self._client.request(
                method, f"{self.base_url}{path}", params={"api_key": self._key, **(params or {})}, json=body
            )
        except httpx.HTTPError as exc:
            where = host_of(self.base_url)
            raise UpstreamUnavailable(f"{self.service} at {where} unreachable ({what}): {self.clean(str(exc))}") from None
        self.check(response, what, transient)
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"Roboflow {what}: the answer is not JSON: {self.clean(response.text[:200])!r}") from None


class RoboflowClipText(RoboflowHTTP):
    """Embeds queries with the CLIP that made Roboflow's video vectors (`clip/<version>`)."""

    service = "Roboflow CLIP"
    default_threshold = DEFAULT_THRESHOLD

    def __init__(
        self,
        api_key: str | None,
        base_url: str,
        clip_version: str = "ViT-B-16",
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout=timeout, client=client)
        self.clip_version = clip_version
        self.name = f"clip/{clip_version}"
        self.aliases: tuple[str, ...] = ()
        self.dim = 0

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        body = {"text": list(texts), "clip_version_id": self.clip_version}
        data = self.request_json("POST", "/clip/embed_text", "embed_text", body=body)
        try:
            vectors = np.asarray(data["embeddings"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"Roboflow embed_text answered an unexpected body: {type(exc).__name__}") from None
        if vectors.ndim != 2 or vectors.shape[0] != len(texts) or not np.all(np.isfinite(vectors)):
            raise UpstreamError(f"Roboflow embed_text returned shape {vectors.shape} for {len(texts)} texts")
        self.dim = int(vectors.shape[1])
        return normalize(vectors)
