"""One settings object (env `FRAMESEARCH_*`, overridden by CLI options), passed explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROBOFLOW_PRODUCTION_API = "https://api.roboflow.com"
ROBOFLOW_INFERENCE_API = "https://infer.roboflow.com"


class Settings(BaseSettings):
    """Where the vectors live, which model embeds queries, and service defaults."""

    model_config = SettingsConfigDict(env_prefix="FRAMESEARCH_", extra="ignore")

    store: Path = Field(Path("data"), description="Folder of the embedded Qdrant Edge store.")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; when set, used instead of --store.")
    qdrant_api_key: SecretStr | None = None
    collection: str = Field("frames", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    model: str | None = Field(
        None, description="Model folder path, a bundled model name, or 'roboflow'. Default: the collection's."
    )
    threshold: float | None = Field(None, ge=-1.0, le=1.0, description="Cosine score floor for search.")
    limit: int = Field(20, ge=1, le=1000)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cache_dir: Path | None = Field(None, description="Thumbnails and uploads; default <store>/cache.")
    max_upload_mb: int = Field(2048, ge=1)
    roboflow_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_KEY", "ROBOFLOW_API_KEY")
    )
    roboflow_api_url: str = Field(
        ROBOFLOW_PRODUCTION_API, validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_URL", "API_URL")
    )
    roboflow_inference_url: str = Field(
        ROBOFLOW_INFERENCE_API, description="Hosted or self-hosted Roboflow Inference server for clip/embed_text."
    )
    roboflow_clip_version: str = "ViT-B-16"
    roboflow_poll_interval: float = Field(5.0, gt=0, description="Seconds between first job status polls (backs off).")
    roboflow_timeout: float = Field(3600.0, gt=0, description="Seconds to wait for a Roboflow job before giving up.")
    job_workers: int = Field(2, ge=1, le=32, description="Ingest jobs the service runs at once.")

    @property
    def work_dir(self) -> Path:
        """Folder for caches, uploads and job state beside the store."""
        return self.cache_dir or (self.store / "cache")
