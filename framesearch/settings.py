"""One settings object (env `FRAMESEARCH_*`, overridden by CLI options), passed explicitly, never built at import.

The `Settings` fields are the single source of the settings table: their env names, defaults and
descriptions make the README's table (`settings_table()`), and a test checks each one changes behaviour.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from framesearch.validation import Limit, Threshold

ENV_PREFIX = "FRAMESEARCH_"
ROBOFLOW_PRODUCTION_API = "https://api.roboflow.com"
ROBOFLOW_INFERENCE_API = "https://infer.roboflow.com"


class Settings(BaseSettings):
    """Where the vectors live, which model embeds queries, and service defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    store: Path = Field(Path("data"), description="Folder of the embedded Qdrant Edge store.")
    qdrant_url: str | None = Field(None, description="A Qdrant server or cluster to use instead of the embedded store.")
    qdrant_api_key: SecretStr | None = Field(None, description="API key of that Qdrant server.")
    collection: str = Field("frames", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Collection name (one model per collection).")
    model: str | None = Field(
        None,
        description="Model folder, bundled model name, or `roboflow`; default: the model the collection records.",
    )
    threshold: Threshold | None = Field(None, description="Cosine score floor of searches; default: the model's own.")
    limit: Limit = Field(20, description="Results a search returns when the request names no limit.")
    hnsw_ef: int = Field(
        128, ge=1, le=4096, description="Search breadth of the HNSW index: higher finds more true neighbours, slower."
    )
    host: str = Field("127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `serve` listens on.")
    workers: int = Field(
        1, ge=1, le=64, description="Service processes `serve` runs; more than one needs a Qdrant server (`qdrant_url`)."
    )
    cache_dir: Path | None = Field(None, description="Thumbnails, uploads and job state; default `<store>/cache`.")
    max_upload_mb: int = Field(2048, ge=1, description="Largest upload the service accepts, in MB.")
    ort_threads: int | None = Field(None, ge=1, le=1024, description="ONNX Runtime intra-op threads; default all cores.")
    job_workers: int = Field(2, ge=1, le=32, description="Ingest jobs the service runs at once.")
    embed_batch: int = Field(
        32, ge=1, le=4096, description="Frames per model call in local ingest (bench/bench_gpu_ingest.py finds a GPU's best)."
    )
    roboflow_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_KEY", "ROBOFLOW_API_KEY"),
        description="Roboflow API key (never printed, logged or stored).",
    )
    roboflow_api_url: str = Field(
        ROBOFLOW_PRODUCTION_API,
        validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_URL", "API_URL"),
        description="Roboflow API base URL (Video Inference).",
    )
    roboflow_inference_url: str = Field(
        ROBOFLOW_INFERENCE_API, description="Roboflow Inference server (hosted or self-hosted) for CLIP embeddings."
    )
    roboflow_clip_version: str = Field("ViT-B-16", description="CLIP version asked of Roboflow Inference.")
    roboflow_poll_interval: float = Field(
        5.0, gt=0, allow_inf_nan=False, description="Seconds between first Roboflow job status polls (backs off)."
    )
    roboflow_timeout: float = Field(
        3600.0, gt=0, allow_inf_nan=False, description="Seconds to wait for a Roboflow job before giving up."
    )

    @property
    def work_dir(self) -> Path:
        """Folder for caches, uploads and job state beside the store."""
        return self.cache_dir or (self.store / "cache")

    def roboflow_key(self) -> str | None:
        """The Roboflow API key's value, for the clients that send it."""
        return self.roboflow_api_key.get_secret_value() if self.roboflow_api_key else None


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that make `Settings()` in another process equal `settings` (for worker processes)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[env_names(name)[0]] = str(value)
    return env


def env_names(name: str) -> list[str]:
    """The environment variables that set field `name`, preferred first."""
    field = Settings.model_fields[name]
    if isinstance(field.validation_alias, AliasChoices):
        return [str(choice) for choice in field.validation_alias.choices]
    return [f"{ENV_PREFIX}{name.upper()}"]


def _default_text(name: str) -> str:
    default = Settings.model_fields[name].default
    if default is None:
        return "unset"
    return f"`{default}`"


def settings_table() -> str:
    """The Markdown table of every setting: variables, default and meaning (the README embeds it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variables = ", ".join(f"`{v}`" for v in env_names(name))
        rows.append(f"| {variables} | {_default_text(name)} | {field.description} |")
    return "\n".join(rows)
