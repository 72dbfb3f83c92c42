"""A Qdrant server or cluster: the server version this client is pinned to, and how new collections are laid out.

On a cluster a collection is cut into shards spread over the nodes, each shard kept in `replicas` copies; a write
returns once `write_consistency` copies have it. The settings `shards`, `replicas` and `write_consistency` choose
these for collections framesearch creates (existing collections keep theirs: Qdrant changes them only by moving
shards, see deploy/cluster/README.md). Qdrant Edge and qdrant-client's local mode have no cluster and ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

# The Qdrant server image of the compose files, the Helm values and the testcontainers tests. pyproject pins
# qdrant-client to the same minor line: the client warns across more than one minor version, and the collection
# metadata framesearch records needs 1.16 on both sides. tests/test_deploy.py keeps them in step.
QDRANT_IMAGE = "qdrant/qdrant:v1.16.3"


class ShardParams(TypedDict, total=False):
    """The create_collection arguments of a layout."""

    shard_number: int
    replication_factor: int
    write_consistency_factor: int


@dataclass(frozen=True)
class Layout:
    """Shards, copies and write acknowledgements of new collections on a server (None: the server's default)."""

    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Layout:
        return cls(settings.shards, settings.replicas, settings.write_consistency)

    def frames_params(self) -> ShardParams:
        """create_collection arguments of the frames collection."""
        params = ShardParams()
        if self.shards is not None:
            params["shard_number"] = self.shards
        if self.replicas is not None:
            params["replication_factor"] = self.replicas
        if self.write_consistency is not None:
            params["write_consistency_factor"] = self.write_consistency
        return params

    def videos_params(self) -> ShardParams:
        """The videos collection is small: one shard, but as many copies (the library must survive a node too)."""
        params = self.frames_params()
        if not params:
            return params
        params["shard_number"] = 1
        return params
