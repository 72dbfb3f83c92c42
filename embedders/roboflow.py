"""Text vectors from Roboflow's CLIP (`POST /clip/embed_text`), hosted or on a self-hosted Inference server."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from framesearch.errors import ModelError, UpstreamError
from framesearch.store.schema import normalize


def redact(text: str, secret: str | None) -> str:
    """Remove an API key from text bound for logs or errors."""
    return text.replace(secret, "***") if secret else text


class RoboflowClipText:
    """Embeds queries with the CLIP that made Roboflow's video vectors (`clip/<version>`)."""

    default_threshold = 0.2

    def __init__(
        self,
        api_key: str | None,
        base_url: str,
        clip_version: str = "ViT-B-16",
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        if not api_key:
            raise ModelError("the roboflow model needs an API key: set ROBOFLOW_API_KEY or FRAMESEARCH_ROBOFLOW_API_KEY")
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.clip_version = clip_version
        self.name = f"clip/{clip_version}"
        self.aliases: tuple[str, ...] = ()
        self.dim = 0
        self._client = client or httpx.Client(timeout=timeout)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        url = f"{self.base_url}/clip/embed_text"
        body = {"text": list(texts), "clip_version_id": self.clip_version}
        try:
            response = self._client.post(url, params={"api_key": self._key}, json=body)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Roboflow CLIP at {self.base_url} unreachable: {redact(str(exc), self._key)}") from None
        if response.status_code in (401, 403):
            raise UpstreamError(f"Roboflow refused the API key (HTTP {response.status_code})")
        if response.status_code >= 400:
            detail = redact(response.text[:300], self._key)
            raise UpstreamError(f"Roboflow embed_text failed: HTTP {response.status_code}: {detail}")
        try:
            vectors = np.asarray(response.json()["embeddings"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"Roboflow embed_text answered an unexpected body: {exc}") from None
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise UpstreamError(f"Roboflow embed_text returned shape {vectors.shape} for {len(texts)} texts")
        self.dim = int(vectors.shape[1])
        return normalize(vectors)
