"""The collections a store holds: list them, check one exists before reading it, drop one.

Reading never creates anything: a command that only reads (a search, `videos list`, `store info`) checks
here first, so a mistyped `--collection` (or a store folder that is not there) is an error naming what exists,
not a new empty collection. An Edge collection is a sub-folder of the store holding `collection.json` (it has
vectors) or `lock` (it was opened for writing, e.g. by `serve`, and is still empty); a server collection is a
Qdrant collection with its `<name>_videos` companion.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from framesearch.errors import CollectionMissing, StoreMissing
from framesearch.settings import Settings, ingest_command
from framesearch.store.edge_files import INFO_FILE

VIDEOS_SUFFIX = "_videos"  # a server collection's record companion (store/client.py)
CREATE_HINT = "`framesearch ingest local DIR --recursive` creates it (or `framesearch demo`, for a try-out)"


def where(settings: Settings) -> str:
    """The store's place as messages name it: the server's URL, or the Edge folder's absolute path."""
    return settings.qdrant_url or str(settings.store)


def list_collections(settings: Settings) -> list[str]:
    """The collections the store holds, sorted; StoreMissing when an Edge store's folder does not exist."""
    if settings.qdrant_url:
        return _server_collections(settings)
    root = settings.store
    if not root.is_dir():
        raise StoreMissing(f"there is no library at {root} yet: {CREATE_HINT}")
    return sorted(p.name for p in root.iterdir() if _is_edge_collection(p))


def _is_edge_collection(folder: Path) -> bool:
    return folder.is_dir() and ((folder / INFO_FILE).is_file() or (folder / "lock").is_file())


def _server_client(settings: Settings):
    from qdrant_client import QdrantClient

    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantClient(url=settings.qdrant_url, api_key=key, timeout=30)


def _server_collections(settings: Settings) -> list[str]:
    from framesearch.store.guard import engine_errors

    client = _server_client(settings)
    try:
        with engine_errors(f"Qdrant at {settings.qdrant_url}", "listing its collections"):
            names = {c.name for c in client.get_collections().collections}
    finally:
        client.close()
    return sorted(n for n in names if not (n.endswith(VIDEOS_SUFFIX) and n.removesuffix(VIDEOS_SUFFIX) in names))


def require_collection(settings: Settings) -> None:
    """Raise unless the store and its collection exist (what every read checks before opening the store)."""
    found = list_collections(settings)
    if settings.collection in found:
        return
    there = ", ".join(found) if found else "none"
    name = settings.collection
    create = f"`{ingest_command(settings, 'DIR')}` creates it"
    raise CollectionMissing(f"no collection {name!r} in {where(settings)} (collections there: {there}); {create}")


def drop_collection(settings: Settings) -> None:
    """Delete `settings.collection` with every video and frame in it (the caller has asked the user)."""
    require_collection(settings)
    name = settings.collection
    if settings.qdrant_url:
        client = _server_client(settings)
        try:
            for each in (name, f"{name}{VIDEOS_SUFFIX}"):
                if client.collection_exists(each):
                    client.delete_collection(each)
        finally:
            client.close()
        return
    from framesearch.store.open import open_store

    with open_store(settings, checks=False):  # takes the lock: a running service or ingest makes this a clear error
        pass
    shutil.rmtree(settings.store / name)
