"""What the web app holds for its lifetime: settings, the open store, and the query embedder."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from embedders.base import TextEmbedder
from embedders.resolve import load_text_embedder
from framesearch.settings import Settings
from store.base import VectorStore


@dataclass
class AppState:
    settings: Settings
    store: VectorStore
    _embedders: dict[str | None, TextEmbedder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def embedder(self) -> TextEmbedder:
        """The query embedder for the collection's model, loaded once and reused."""
        info = self.store.info()
        key = info.model if info else None
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = load_text_embedder(self.settings, info)
            return self._embedders[key]
