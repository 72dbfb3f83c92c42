"""Choose the backend from settings: a Qdrant URL if one is set, else Qdrant Edge in a folder."""

from __future__ import annotations

import re
from pathlib import Path

from framesearch.settings import Settings
from framesearch.store.api import VectorStore
from framesearch.store.base import QdrantStore
from framesearch.store.space import DEFAULT_RESERVE_MB


def open_store(settings: Settings, *, checks: bool = True, create: bool = True) -> QdrantStore:
    """Open the store the settings name (the caller closes it). `checks=False` opens it as found: no rollback
    of abandoned runs and no consistency check (what a store check does, to report them). `create=False` (every
    read) opens only a store and collection that exist: otherwise an error that lists the collections there."""
    if not create:
        from framesearch.store.collections import require_collection

        require_collection(settings)
    if settings.qdrant_url:
        from framesearch.store.client import ClientStore
        from framesearch.store.cluster import Layout

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ClientStore(
            url=settings.qdrant_url,
            api_key=key,
            collection=settings.collection,
            layout=Layout.from_settings(settings),
            reserve_mb=settings.min_free_mb,
            hnsw_ef=settings.hnsw_ef,
        )
    from framesearch.store.edge import EdgeStore

    return EdgeStore(
        settings.store,
        settings.collection,
        reserve_mb=settings.min_free_mb,
        recover=checks,
        verify=checks,
        reading=not create and checks,
        hnsw_ef=settings.hnsw_ef,
    )


def open_service_store(settings: Settings) -> VectorStore:
    """The store for the long-running service: a Qdrant server through qdrant-client, or Qdrant Edge held by a
    child process (store/hosted.py) so that the engine never holds the service's interpreter."""
    if settings.qdrant_url:
        return open_store(settings)
    from framesearch.store.hosted import HostedStore

    return HostedStore(settings)


def is_url(location: str) -> bool:
    return re.match(r"^https?://", location) is not None


def open_location(location: str, collection: str, *, api_key: str | None = None, settings: Settings | None = None) -> QdrantStore:
    """Open a store named by place: a Qdrant server URL (http/https) or a Qdrant Edge folder."""
    reserve = settings.min_free_mb if settings else DEFAULT_RESERVE_MB
    if is_url(location):
        from framesearch.store.client import ClientStore
        from framesearch.store.cluster import Layout

        layout = Layout.from_settings(settings) if settings else None
        return ClientStore(url=location, api_key=api_key, collection=collection, layout=layout, reserve_mb=reserve)
    from framesearch.store.edge import EdgeStore

    return EdgeStore(Path(location).expanduser().absolute(), collection, reserve_mb=reserve)
