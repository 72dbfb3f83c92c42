"""What the web app holds for its lifetime: settings, the open store, and the query embedders."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from embedders.base import ImageEmbedder, TextEmbedder
from embedders.resolve import load_image_embedder, load_text_embedder
from framesearch.settings import Settings
from service.media import ThumbnailCache
from store.base import VectorStore


@dataclass
class AppState:
    settings: Settings
    store: VectorStore
    _embedders: dict[str | None, TextEmbedder] = field(default_factory=dict)
    _image_embedders: dict[str | None, ImageEmbedder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thumbnails: ThumbnailCache | None = None

    def embedder(self) -> TextEmbedder:
        """The query embedder for the collection's model, loaded once and reused."""
        info = self.store.info()
        key = info.model if info else None
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = load_text_embedder(self.settings, info)
            return self._embedders[key]

    def image_embedder(self) -> ImageEmbedder:
        """The local CLIP that embeds query images for the collection's model, loaded once and reused."""
        info = self.store.info()
        key = info.model if info else None
        with self._lock:
            if key not in self._image_embedders:
                self._image_embedders[key] = load_image_embedder(self.settings, info)
            return self._image_embedders[key]

    def thumbnails(self) -> ThumbnailCache:
        """The thumbnail cache under the work folder."""
        with self._lock:
            if self._thumbnails is None:
                self._thumbnails = ThumbnailCache(self.settings.work_dir / "thumbs")
            return self._thumbnails
