"""Choose the backend from settings: a Qdrant URL if one is set, else Qdrant Edge in a folder."""

from __future__ import annotations

from framesearch.settings import Settings
from framesearch.store.base import VectorStore


def open_store(settings: Settings, *, checks: bool = True) -> VectorStore:
    """Open the store the settings name (the caller closes it). `checks=False` opens it as found: no rollback
    of abandoned runs and no consistency check (what a store check does, to report them)."""
    if settings.qdrant_url:
        from framesearch.store.client import ClientStore

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ClientStore(url=settings.qdrant_url, api_key=key, collection=settings.collection,
                           reserve_mb=settings.min_free_mb)
    from framesearch.store.edge import EdgeStore

    return EdgeStore(settings.store, settings.collection, reserve_mb=settings.min_free_mb, recover=checks, verify=checks)
