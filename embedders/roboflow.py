"""Roboflow over HTTP: one base for every Roboflow client (key, redaction, error mapping), and its CLIP.

`RoboflowHTTP` sends the key as the `api_key` parameter, keeps it out of every error and log line
(httpx logs request URLs), and maps answers to domain errors the same way for every endpoint:
401/403 a refused key, 402/429 quota, 5xx or unreachable `UpstreamUnavailable` (worth retrying),
other 4xx `UpstreamError`. `RoboflowClip` asks Roboflow Inference's `POST /clip/embed_text` and
`POST /clip/embed_image`, retrying transient failures with backoff.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.errors import ApiKeyMissing, UpstreamError, UpstreamUnavailable
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

    def __init__(self, api_key: str | None, base_url: str, *, timeout: float = 60.0, client: httpx.Client | None = None) -> None:
        if not api_key:
            raise ApiKeyMissing(f"{self.service} needs an API key: {KEY_HINT}")
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

    retry_delay = 0.5  # seconds before the first retry of a transient failure; doubles each time

    def request_json(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict | None = None,
        body: Any = None,
        transient: tuple[int, ...] = (),
        retries: int = 0,
    ) -> Any:
        """Call an endpoint of the base URL with the key; returns the decoded JSON answer. Transient failures
        (unreachable, 5xx, `transient` codes) are tried again `retries` times, backing off (httpx itself
        retries only connection setup, and a loop of a few lines needs no retry library)."""
        for attempt in range(retries + 1):
            try:
                return self._request_once(method, path, what, params=params, body=body, transient=transient)
            except UpstreamUnavailable:
                if attempt == retries:
                    raise
                time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    def _request_once(
        self, method: str, path: str, what: str, *, params: dict | None, body: Any, transient: tuple[int, ...]
    ) -> Any:
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


# The image side each CLIP version Roboflow hosts looks at (OpenAI's models); frames are sent no larger.
INPUT_SIZES = {"RN50x4": 288, "RN50x16": 384, "RN50x64": 448, "ViT-L-14-336px": 336}


def jpeg_base64(image: np.ndarray, quality: int = 95) -> str:
    """An RGB frame as base64 JPEG, the way Roboflow's clients send images."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").save(buffer, "JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class RoboflowClip(RoboflowHTTP):
    """Roboflow Inference's CLIP, hosted or self-hosted: `POST /clip/embed_text` and `POST /clip/embed_image`.

    Vectors are named `clip/<version>`, the identity of Roboflow's Video Inference vectors, so they mix.
    Images go base64 JPEG, `images_per_request` a request, `requests_in_flight` requests at once.
    """

    service = "Roboflow CLIP"
    default_threshold = DEFAULT_THRESHOLD
    model_path: str | None = None
    images_per_request = 8
    requests_in_flight = 4
    retries = 4

    def __init__(
        self,
        api_key: str | None,
        base_url: str,
        clip_version: str = "ViT-B-16",
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout=timeout, client=client)
        self.clip_version = clip_version
        self.name = f"clip/{clip_version}"
        self.aliases: tuple[str, ...] = ()
        self.dim = 0
        self.input_size = INPUT_SIZES.get(clip_version, 224)

    def _embed(self, what: str, body: dict[str, Any], count: int) -> np.ndarray:
        data = self.request_json("POST", f"/clip/{what}", what, body=body, transient=(429,), retries=self.retries)
        try:
            vectors = np.asarray(data["embeddings"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"Roboflow {what} answered an unexpected body: {type(exc).__name__}") from None
        if vectors.ndim != 2 or vectors.shape[0] != count or not np.all(np.isfinite(vectors)):
            raise UpstreamError(f"Roboflow {what} returned shape {vectors.shape} for {count} inputs")
        if self.dim and vectors.shape[1] != self.dim:
            raise UpstreamError(f"Roboflow {what} returned {vectors.shape[1]}-d vectors after {self.dim}-d ones")
        self.dim = int(vectors.shape[1])
        return normalize(vectors)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        body = {"text": list(texts), "clip_version_id": self.clip_version}
        return self._embed("embed_text", body, len(texts))

    def _embed_chunk(self, images: Sequence[np.ndarray]) -> np.ndarray:
        body = {"image": [{"type": "base64", "value": jpeg_base64(i)} for i in images], "clip_version_id": self.clip_version}
        return self._embed("embed_image", body, len(images))

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised vectors of RGB frames, in order, from a few concurrent batched requests."""
        size = self.images_per_request
        chunks = [images[i : i + size] for i in range(0, len(images), size)]
        if len(chunks) <= 1:
            return self._embed_chunk(images)
        with ThreadPoolExecutor(min(self.requests_in_flight, len(chunks))) as pool:
            return np.concatenate(list(pool.map(self._embed_chunk, chunks)))


RoboflowClipText = RoboflowClip  # the earlier name, when only text went to Roboflow
