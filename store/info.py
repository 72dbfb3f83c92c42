"""What a store is and holds: backend, collection, model, counts, index state and, on a server, its cluster layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from framesearch.store.pages import LibraryTotals, totals

if TYPE_CHECKING:
    from framesearch.store.base import QdrantStore  # the answer's model (a service's client) needs no store

Backend = Literal["qdrant-edge", "qdrant-server", "qdrant-local"]


class IndexState(BaseModel):
    """How far Qdrant has indexed the frames: `green` when the vector index covers them (Edge: `indexed`)."""

    status: str = Field(description="Edge: empty, indexed, searched exactly or partly indexed; a server: its colour.")
    state: str = Field("", description="The index state in words, as ingest and /healthz say it.")
    points: int
    indexed_vectors: int = Field(description="Vectors in HNSW segments (small segments are searched exactly instead).")
    segments: int
    payload_indexes: list[str]


class ClusterState(BaseModel):
    """The frames collection's layout on a Qdrant server or cluster."""

    shards: int | None
    replicas: int | None
    write_consistency: int | None
    peers: int | None = Field(default=None, description="Nodes in the cluster (None: a single node without cluster mode).")
    replica_states: dict[str, int] = Field(default_factory=dict, description="Shard replicas by state, as this node sees them.")


class StoreInfo(BaseModel):
    """`store info`: the store's backend and location, its collection and model, what it holds and its state."""

    backend: Backend
    location: str
    collection: str
    model: str | None
    dim: int | None
    model_path: str | None
    points: int
    videos: int
    totals: LibraryTotals | None = Field(None, description="Hours, frames, bytes of video files, videos gone from disk.")
    index: IndexState | None
    cluster: ClusterState | None = None


def describe(store: QdrantStore) -> StoreInfo:
    """Read everything `store info` shows from an open store."""
    from framesearch.store.client import ClientStore
    from framesearch.store.edge import EdgeStore

    info = store.info()
    base: dict[str, Any] = {
        "model": info.model if info else None,
        "dim": info.dim if info else None,
        "model_path": info.model_path if info else None,
        "points": store.frame_count(),
        "videos": len(records := store.list_videos()),
        "totals": totals(records),
    }
    if isinstance(store, EdgeStore):
        return StoreInfo(
            backend="qdrant-edge",
            location=str(store.root.parent),
            collection=store.root.name,
            index=_edge_index(store) if info else None,
            **base,
        )
    if isinstance(store, ClientStore):
        return _client_info(store, base, has_collection=info is not None)
    raise TypeError(f"unknown store backend {type(store).__name__}")


def _edge_index(store: Any) -> IndexState:
    shard = store._shards["frames"].info()  # the Edge shard of frames (this package's own backend)
    indexed = int(shard.indexed_vectors_count)
    status = store.index_status()
    return IndexState(
        status=status.state,
        state=status.words(),
        points=int(shard.points_count),
        indexed_vectors=indexed,
        segments=int(shard.segments_count),
        payload_indexes=sorted(shard.payload_schema),
    )


def _client_info(store: Any, base: dict[str, Any], has_collection: bool) -> StoreInfo:
    from qdrant_client.local.qdrant_local import QdrantLocal

    client, name = store.client, store.names["frames"]
    remote = not isinstance(client._client, QdrantLocal)  # qdrant-client's local mode has no cluster
    index = cluster = None
    if has_collection:
        details = client.get_collection(name)
        words = store.index_status().words()
        index = IndexState(
            status=str(getattr(details.status, "value", details.status)),
            state=words,
            points=int(details.points_count or 0),
            indexed_vectors=int(details.indexed_vectors_count or 0),
            segments=int(details.segments_count or 0),
            payload_indexes=sorted(details.payload_schema or {}),
        )
        if remote:
            cluster = _cluster(client, name, details.config.params)
    where = store.description.removeprefix("Qdrant at ").rsplit(" (collection", 1)[0]
    return StoreInfo(
        backend="qdrant-server" if remote else "qdrant-local",
        location=where,
        collection=name,
        index=index,
        cluster=cluster,
        **base,
    )


def _cluster(client: Any, name: str, params: Any) -> ClusterState:
    """Shards and replicas as configured, and as the cluster reports them (peers, replica states)."""
    peers, states = None, {}
    try:
        status = client.cluster_status()
        peers = len(status.peers) if getattr(status, "status", "") == "enabled" else None
        layout = client.collection_cluster_info(name)
        for shard in [*(layout.local_shards or []), *(layout.remote_shards or [])]:
            state = str(getattr(shard.state, "value", shard.state))
            states[state] = states.get(state, 0) + 1
    except Exception:  # an older or restricted server: show the configured layout only
        pass
    return ClusterState(
        shards=params.shard_number,
        replicas=params.replication_factor,
        write_consistency=params.write_consistency_factor,
        peers=peers,
        replica_states=states,
    )
