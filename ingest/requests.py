"""Request models of the ingest operations, validated once here; the CLI and the service build them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.validation import DEFAULT_FPS, Fps, VideoId

Provider = Literal["local", "roboflow"]
PositiveSeconds = Field(default=None, gt=0, le=10**7, allow_inf_nan=False)
URL_MAX = 4096


class ResultsIngest(BaseModel):
    """Index a Roboflow results JSON as one video."""

    model_config = ConfigDict(extra="forbid")

    video_id: VideoId | None = Field(default=None, description="Video id (default: the video the file names, else its name).")
    fps: Fps | None = Field(default=None, description="Sampling rate (default: the file's, else derived from the offsets).")
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description=f"The model that made the vectors: a model folder, a bundled or pulled model's name, 'roboflow' or "
        f"a 'clip/...' identity (default: the model the file names, else {ROBOFLOW_CLIP_MODEL}).",
    )
    dry_run: bool = Field(default=False, description="Check and describe what would be indexed; write nothing.")


class LocalIngest(BaseModel):
    """Sample, embed and index video files or whole folders on this machine."""

    model_config = ConfigDict(extra="forbid")

    fps: Fps = DEFAULT_FPS
    video_id: VideoId | None = Field(default=None, description="Id of a single video (default: its file name).")
    recursive: bool = False
    force: bool = False
    prune: bool = Field(False, description="Remove the videos of the folders given whose files are gone from disk.")


class RoboflowIngest(BaseModel):
    """Run CLIP on videos at Roboflow (Video Inference) and index the results."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(default_factory=list, description="Video files or http(s) URLs.")
    fps: Fps = DEFAULT_FPS
    video_id: VideoId | None = None
    job_id: str | None = Field(default=None, min_length=1, max_length=200, description="Resume a job submitted earlier.")
    timeout: float | None = PositiveSeconds
    poll_interval: float | None = PositiveSeconds
    concurrency: int = Field(default=4, ge=1, le=32)

    @model_validator(mode="after")
    def _consistent(self) -> RoboflowIngest:
        if self.job_id and len(self.sources) > 1:
            raise ValueError("a job id resumes one job: give at most one video with it")
        if not self.job_id and not self.sources:
            raise ValueError("give at least one video file or URL (or a job id to resume)")
        if self.video_id and len(self.sources) > 1:
            raise ValueError("a video id names one video; give one, or let ids default to file names")
        return self


class JobRequest(BaseModel):
    """An ingest job of the service: an uploaded file or a URL, embedded locally or at Roboflow."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = "local"
    fps: Fps = DEFAULT_FPS
    url: str | None = Field(default=None, max_length=URL_MAX, pattern=r"^https?://", description="Video URL (instead of a file).")
    video_id: VideoId | None = None


RAY_ADDRESS = r"^(local|auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+)$"


class RayIngest(BaseModel):
    """Where and how a library ingest runs on Ray: decoding in tasks, embedding in a pool of actors."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        default="local",
        max_length=500,
        pattern=RAY_ADDRESS,
        description="`local` (start Ray here), `auto` (the cluster this machine belongs to) or a cluster address.",
    )
    actors: int | None = Field(
        default=None, ge=1, le=4096, description="Embedding actors (default: from the cluster's CPUs or GPUs)."
    )
    gpus_per_actor: float = Field(default=0.0, ge=0, le=8, allow_inf_nan=False, description="GPU share of each actor (0: CPU).")
    range_seconds: float | None = Field(
        default=None, gt=0, le=10**7, allow_inf_nan=False, description="Split videos into ranges of about this length."
    )
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed range (lost worker, remote hiccup).")
    requests_per_actor: int = Field(default=4, ge=1, le=64, description="Calls in flight per actor for a remote embedder.")


class DeleteVideos(BaseModel):
    """Delete videos from the library: these ids, and/or every video whose files are gone, and/or every id under a
    prefix."""

    model_config = ConfigDict(extra="forbid")

    video_ids: list[VideoId] = Field(default_factory=list, max_length=100_000, description="Ids of the videos to delete.")
    missing: StrictBool = Field(default=False, description="Every video whose files are all gone from disk.")
    under: str | None = Field(default=None, min_length=1, max_length=1000, description="Every video whose id starts with this.")

    @model_validator(mode="after")
    def _something(self) -> DeleteVideos:
        if not (self.video_ids or self.missing or self.under):
            raise ValueError("name the videos to delete: ids, missing or under a prefix")
        return self
