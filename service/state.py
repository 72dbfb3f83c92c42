"""What the web app holds for its lifetime: settings, the open store, the embedders, thumbnails and playback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from framesearch.embedders.base import ImageEmbedder, TextEmbedder
from framesearch.embedders.resolve import image_embedder, text_embedder
from framesearch.service.background import IndexBuilder, ResultsParser
from framesearch.service.media import ThumbnailCache
from framesearch.service.playback import Playback
from framesearch.service.redact import ServerPaths
from framesearch.settings import Settings
from framesearch.store.base import VectorStore


@dataclass
class AppState:
    settings: Settings
    store: VectorStore
    indexer: IndexBuilder | None = None
    parser: ResultsParser = field(default_factory=ResultsParser)
    _embedders: dict[str | None, TextEmbedder] = field(default_factory=dict)
    _image_embedders: dict[str | None, ImageEmbedder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thumbnails: ThumbnailCache | None = None
    _playback: Playback | None = None
    paths: ServerPaths = field(init=False)

    def __post_init__(self) -> None:
        self.paths = ServerPaths.of(self.settings, self.store.description)

    def _cached(self, cache: dict, load: Callable) -> Any:
        """The embedder for the collection's current model, loaded on first use and reused."""
        info = self.store.info()
        key = info.model if info else None
        with self._lock:
            if key not in cache:
                cache[key] = load(self.settings, info)
            return cache[key]

    def embedder(self) -> TextEmbedder:
        """The query embedder for the collection's model."""
        return self._cached(self._embedders, text_embedder)

    def image_embedder(self) -> ImageEmbedder:
        """The CLIP that embeds query images and local-job frames for the collection's model."""
        return self._cached(self._image_embedders, image_embedder)

    def thumbnails(self) -> ThumbnailCache:
        """The thumbnail cache under the work folder."""
        with self._lock:
            if self._thumbnails is None:
                limit = int(self.settings.thumbnail_cache_mb * 1024 * 1024)
                self._thumbnails = ThumbnailCache(self.settings.work_dir / "thumbs", limit)
            return self._thumbnails

    def playback(self) -> Playback:
        """What /play serves: originals browsers play, else renditions made in the background under the work folder."""
        with self._lock:
            if self._playback is None:
                limit = int(self.settings.playback_cache_mb * 1024 * 1024)
                self._playback = Playback(self.settings.work_dir / "play", limit)
            return self._playback

    def close(self) -> None:
        """Stop background work (a rendition being made is abandoned)."""
        with self._lock:
            playback, self._playback = self._playback, None
        if playback is not None:
            playback.close()


def app_state(request: Request) -> AppState:
    """The state the app's lifespan set up."""
    return request.app.state.framesearch
