"""The point schema, defined once and imported by ingest and service alike.

One sampled video frame is one Qdrant point: its CLIP vector plus a payload naming the video, the
frame number, the time and the ingest run that wrote it. Point ids are UUIDv5 of (video id, frame, run):
a re-ingest writes beside the old version, which stays searchable until the new run commits (its
video record names it) and is then swept, so re-ingesting replaces and never duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np  # annotations only: reading records (`videos list`) loads no numpy

POINT_NAMESPACE = uuid.UUID("6c1c3f8e-8d0a-4f5e-9a57-1f0c5a0e7b21")

VIDEO_ID = "video_id"
FRAME = "frame"
TIMESTAMP = "timestamp"
FPS = "fps"
MODEL = "model"
SOURCE = "source"
RUN = "ingest_run"
KIND = "kind"  # in the videos collection: absent for video records, "run" for run markers (store/runs.py)
CONTENT_HASH = "content_hash"  # in the videos collection: a record's content hash (one lookup finds a video's bytes)
PATH = "path"
PATHS = "paths"  # every path a video is known under (a record's `path` is the one playback uses)
WALL = "wall_time"  # live streams: the wall-clock time a frame aired (Unix seconds, UTC); `timestamp` is stream time
BASE_RUN = "base_run"  # in a live stream's record: the run its earlier chunks were merged into (committed too)

INDEXED_FIELDS = {VIDEO_ID: "keyword", TIMESTAMP: "float", RUN: "keyword"}
VIDEO_INDEXED_FIELDS = {VIDEO_ID: "keyword", KIND: "keyword", CONTENT_HASH: "keyword", PATH: "keyword", PATHS: "keyword"}
HIT_FIELDS = (VIDEO_ID, FRAME, TIMESTAMP, FPS, WALL)  # what a search reads of each hit's payload (FrameHit)

# default search breadth (setting `hnsw_ef`); docs/performance.md "Benchmarks" has the recall-vs-latency curve
HNSW_EF = 128


@dataclass(frozen=True)
class IndexConfig:
    """How a frames collection is indexed, chosen by measurement (bench/bench_search.py, docs/performance.md "Benchmarks").

    HNSW graph of `m` links per node built with `ef_construct` candidates; int8 scalar quantization kept in RAM
    with the float vectors on disk, searches rescoring `oversampling` x the limit with the float vectors.
    Segments of fewer than `index_min_frames` frames are searched exactly (a scan beats a graph there). Segments
    merge up to `max_segment_frames`: Qdrant's default caps a segment at ~256 MB of float vectors per CPU, so a
    1M-frame library on 2 cores kept 6 graphs, each searched (ANN top-10 0.81 ms; one graph 0.37 ms). A merge
    reuses the largest graph and inserts the rest, but rewrites the segment: the cap bounds that cost (building
    1M frames in 100k-frame ingests took 1.8x as long as with the default cap); docs/performance.md.
    """

    m: int = 16
    ef_construct: int = 200
    quantization: bool = True
    oversampling: float = 2.0
    index_min_frames: int = 5_000
    full_scan_frames: int = 5_000
    max_segment_frames: int = 1_500_000

    def kilobytes(self, frames: int, dim: int) -> int:
        """Qdrant's thresholds are in KB of float vectors: `frames` frames of `dim` dimensions."""
        return max(1, frames * dim * 4 // 1024)


INDEX = IndexConfig()


@dataclass(frozen=True)
class IndexStatus:
    """Frames stored, frames in HNSW-indexed segments, and whether writes since the last build await indexing."""

    points: int
    indexed: int
    pending: bool = False

    @property
    def state(self) -> str:
        """One word for it: `empty`, `indexed` (every frame in HNSW), `searched exactly` (small segments, no graph
        needed) or `partly indexed` (some frames in HNSW, the rest searched exactly)."""
        if self.points == 0:
            return "empty"
        if self.indexed >= self.points:
            return "indexed"
        return "searched exactly" if self.indexed == 0 else "partly indexed"

    def words(self) -> str:
        """The state as the CLI, `store info` and `/healthz` say it: every frame is searchable in each state."""
        exact = self.points - min(self.indexed, self.points)
        text = {
            "empty": "empty: no frames yet",
            "indexed": f"indexed: {self.points} frames",
            "searched exactly": f"searched exactly: {self.points} frames (too few to need an index)",
            "partly indexed": f"indexed: {self.indexed} of {self.points} frames; the other {exact} searched exactly",
        }[self.state]
        return text + ("; new frames await indexing" if self.pending else "")


def point_id(video_id: str, frame: int, run: str) -> str:
    """Deterministic point id of one frame of one video as written by ingest `run`."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{video_id}\x00{int(frame)}\x00{run}"))


def video_point_id(video_id: str) -> str:
    """Deterministic id of a video's record in the videos collection."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"video\x00{video_id}"))


@dataclass(frozen=True)
class FramePoint:
    """One sampled frame ready to be stored."""

    video_id: str
    frame: int
    timestamp: float
    vector: np.ndarray
    fps: float | None
    model: str
    source: str
    wall_time: float | None = None  # live streams: when the frame aired (Unix seconds, UTC)

    def point_id(self, run: str) -> str:
        return point_id(self.video_id, self.frame, run)

    def payload(self, run: str) -> dict[str, Any]:
        """The stored payload; `run` tags the ingest that wrote it (only committed runs are searched)."""
        payload = {
            VIDEO_ID: self.video_id,
            FRAME: int(self.frame),
            TIMESTAMP: round(float(self.timestamp), 4),
            FPS: None if self.fps is None else float(self.fps),
            MODEL: self.model,
            SOURCE: self.source,
            RUN: run,
        }
        if self.wall_time is not None:
            payload[WALL] = round(float(self.wall_time), 3)
        return payload


@dataclass(frozen=True, slots=True)
class FrameHit:
    """A stored frame returned by a vector search."""

    video_id: str
    frame: int
    timestamp: float
    score: float
    fps: float | None = None
    wall_time: float | None = None  # live streams: when the frame aired (Unix seconds, UTC)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], score: float) -> FrameHit:
        # positional: built for every hit of every search (hundreds per answer)
        return cls(
            str(payload[VIDEO_ID]),
            int(payload[FRAME]),
            float(payload[TIMESTAMP]),
            float(score),
            payload.get(FPS),
            payload.get(WALL),
        )


class VideoRecord(BaseModel):
    """What the library knows of one indexed video (stored in the videos collection)."""

    model_config = ConfigDict(extra="ignore")

    video_id: str
    model: str
    source: str
    frames: int
    fps: float | None = None
    duration: float | None = Field(
        default=None, description="Seconds: the container's duration, else where the last decoded frame ends."
    )
    decoded_until: float | None = Field(
        default=None, description="Where the last decoded frame ends (s); below `duration` when the file is truncated or broken."
    )
    path: str | None = None
    paths: list[str] = Field(default_factory=list, description="Every path the video is known under (copies; where it moved).")
    content_hash: str | None = None
    indexed_at: str | None = None
    skipped_frames: int = 0
    width: int | None = None
    height: int | None = None
    cuts: list[float] | None = None  # shot cut times (s), detected at ingest; None: not detected (no video file)
    extra: dict[str, Any] = Field(default_factory=dict)
    ingest_run: str | None = Field(default=None, description="The committed ingest run: only its frame points are searched.")
    base_run: str | None = Field(
        default=None,
        description="Live streams: the run earlier chunks were merged into; its points are committed too, and every "
        "point id of the stream is made with it (store/writes.py, `merge_chunks`).",
    )

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump()

    def committed_runs(self) -> tuple[str, ...]:
        """The runs whose points are this video's searchable version: its ingest run (and a stream's base run)."""
        return tuple(dict.fromkeys(r for r in (self.ingest_run, self.base_run) if r))

    @property
    def id_run(self) -> str | None:
        """The run the video's point ids are made with (a stream's base run, else the ingest run)."""
        return self.base_run or self.ingest_run

    def known_paths(self) -> list[str]:
        """The paths the video is known under, `path` first (records written before `paths` have `path` only)."""
        return list(dict.fromkeys([p for p in [self.path, *self.paths] if p]))

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> VideoRecord:
        return cls.model_validate(payload)


@dataclass(frozen=True)
class CollectionInfo:
    """The embedding model a collection was created for, and its vector size."""

    model: str
    dim: int
    model_path: str | None = None

    def to_metadata(self) -> dict[str, Any]:
        return {"framesearch_model": self.model, "framesearch_dim": self.dim, "framesearch_model_path": self.model_path}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any] | None) -> CollectionInfo | None:
        if not meta or "framesearch_model" not in meta:
            return None
        return cls(
            model=str(meta["framesearch_model"]),
            dim=int(meta["framesearch_dim"]),
            model_path=meta.get("framesearch_model_path"),
        )
