"""One settings object (env `FRAMESEARCH_*`, overridden by CLI options), passed explicitly, never built at import.

The `Settings` fields are the single source of the settings table: their env names, defaults and
descriptions make the README's table (`settings_table()`), and a test checks each one changes behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from framesearch.validation import Limit, Threshold

ENV_PREFIX = "FRAMESEARCH_"
ROBOFLOW_PRODUCTION_API = "https://api.roboflow.com"
ROBOFLOW_INFERENCE_API = "https://infer.roboflow.com"


def default_store() -> Path:
    """The user's library: `framesearch/library` in the platform's data folder (`~/.local/share` on Linux)."""
    from platformdirs import user_data_path

    return user_data_path("framesearch", appauthor=False) / "library"


class Settings(BaseSettings):
    """Where the vectors live, which model embeds queries, and service defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    store: Path = Field(
        default_factory=default_store,
        description="The library: the folder of its embedded Qdrant Edge store (one per user; collections inside).",
    )
    qdrant_url: str | None = Field(default=None, description="A Qdrant server or cluster to use instead of the embedded store.")
    qdrant_api_key: SecretStr | None = Field(default=None, description="API key of that Qdrant server.")
    collection: str = Field(
        default="frames", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Collection name (one model per collection)."
    )
    model: str | None = Field(
        default=None,
        description="Model folder, bundled or pulled model name, or `roboflow`; default: the model the collection records "
        "(a first ingest: the one pulled model, else the bundled `tiny-shapes-clip`).",
    )
    threshold: Threshold | None = Field(
        default=None, description="Raw cosine score floor of searches; default: the calibrated `min_confidence`."
    )
    min_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Default calibrated confidence floor (0-1) of searches (docs/search.md).",
    )
    limit: Limit = Field(default=20, description="Results a search returns when the request names no limit.")
    hnsw_ef: int = Field(
        default=128,
        ge=1,
        le=4096,
        description="Search breadth of the HNSW index: higher finds more true neighbours, slower. A whole-library "
        "search whose best hit scores below 0.5 (a text query) is run again 4x wider.",
    )
    search_cache_mb: float = Field(
        default=512.0,
        ge=0,
        allow_inf_nan=False,
        description="Memory for the frames and vectors of the videos searches reach, in MB: a moment's extent is "
        "then scored in this process, without asking the store again (least recently used go first; 0: none kept).",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="A running `framesearch serve` the CLI talks to instead of opening the store; default: the one "
        "recorded in the store folder while it runs.",
    )
    watch: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description="Folders `serve` watches (separated by `:`): new and changed videos are indexed as they appear.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `serve` listens on.")
    workers: int = Field(
        default=1, ge=1, le=64, description="Service processes `serve` runs; more than one needs a Qdrant server (`qdrant_url`)."
    )
    cache_dir: Path | None = Field(default=None, description="Thumbnails, uploads and job state; default `<store>/cache`.")
    max_upload_mb: int = Field(
        default=2048, ge=1, description="Largest upload the service accepts (videos, results JSON, images), in MB."
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Key for everything the service does (`Authorization: Bearer KEY` or `X-API-Key: KEY`). "
        "Without any key `serve` binds loopback addresses only.",
    )
    read_api_key: SecretStr | None = Field(
        default=None, description="Key for searching, thumbnails, playback and listing only; writes with it answer 403."
    )
    url_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated host names or addresses that URL jobs may fetch from even when they are "
        "not public (loopback, private, link-local).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated origins (`https://app.example.com`, or `*`) whose pages may search this service "
        "from a browser (reads only: no page of another site may change it); unset: none.",
    )
    max_image_megapixels: float = Field(
        default=40.0, gt=0, le=150, allow_inf_nan=False, description="Largest query image decoded, in megapixels."
    )
    thumbnail_cache_mb: float = Field(
        default=256.0,
        gt=0,
        allow_inf_nan=False,
        description="Disk space of the thumbnail cache, in MB (least recently used go first).",
    )
    playback_cache_mb: float = Field(
        default=2048.0,
        gt=0,
        allow_inf_nan=False,
        description="Disk space of playable copies of videos browsers cannot play, in MB (least recently played go first).",
    )
    job_history_max: int = Field(default=500, ge=1, description="Finished jobs the service remembers (oldest forgotten first).")
    job_history_days: float = Field(default=30.0, gt=0, allow_inf_nan=False, description="Days a finished job is remembered.")
    models_dir: Path | None = Field(
        default=None, description="Where `model pull` keeps models, and `--model NAME` finds them; default the user's cache."
    )
    min_free_mb: int = Field(
        default=256, ge=0, description="Free disk space (MB) the store keeps: a write that would leave less is refused."
    )
    ort_threads: int | None = Field(default=None, ge=1, le=1024, description="ONNX Runtime intra-op threads; default all cores.")
    job_workers: int = Field(default=2, ge=1, le=32, description="Ingest jobs the service runs at once.")
    embed_batch: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Frames per model call in local ingest (bench/bench_gpu_ingest.py finds a GPU's best).",
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray for `ingest local`: `local` (start one here), `auto` or a cluster address; unset: one process.",
    )
    shards: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Shards of a new collection on a Qdrant server; default: the server's (one per node).",
    )
    replicas: int | None = Field(
        default=None, ge=1, le=64, description="Copies of each shard of a new collection on a Qdrant cluster; default 1."
    )
    write_consistency: int | None = Field(
        default=None, ge=1, le=64, description="Replicas that must confirm each write to a new server collection; default 1."
    )
    roboflow_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_KEY", "ROBOFLOW_API_KEY"),
        description="Roboflow API key (never printed, logged or stored).",
    )
    roboflow_api_url: str = Field(
        default=ROBOFLOW_PRODUCTION_API,
        validation_alias=AliasChoices("FRAMESEARCH_ROBOFLOW_API_URL", "API_URL"),
        description="Roboflow API base URL (Video Inference).",
    )
    roboflow_inference_url: str = Field(
        default=ROBOFLOW_INFERENCE_API, description="Roboflow Inference server (hosted or self-hosted) for CLIP embeddings."
    )
    roboflow_clip_version: str = Field(default="ViT-B-16", description="CLIP version asked of Roboflow Inference.")
    roboflow_poll_interval: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, description="Seconds between first Roboflow job status polls (backs off)."
    )
    roboflow_timeout: float = Field(
        default=3600.0, gt=0, allow_inf_nan=False, description="Seconds to wait for a Roboflow job before giving up."
    )

    @model_validator(mode="after")
    def _write_consistency_within_replicas(self) -> Settings:
        if self.write_consistency and self.write_consistency > (self.replicas or 1):
            raise ValueError("write_consistency cannot exceed replicas: a write would wait for copies that do not exist")
        return self

    @field_validator("store", "cache_dir", "models_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Folders are named by absolute path in every message, whatever folder a command ran from."""
        return value.expanduser().absolute() if value is not None else None

    @field_validator("url_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Origins as browsers send them: scheme://host[:port], lower case, no trailing slash."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [str(origin).strip().lower().rstrip("/") for origin in value if str(origin).strip()]
        return value

    @field_validator("watch", mode="before")
    @classmethod
    def _split_folders(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
        return value

    @property
    def work_dir(self) -> Path:
        """Folder for caches, uploads and job state beside the store."""
        return self.cache_dir or (self.store / "cache")

    def models_path(self) -> Path:
        """The folder of pulled models: `models_dir`, else `framesearch/models` in the user's cache folder."""
        if self.models_dir is not None:
            return self.models_dir.expanduser()
        from platformdirs import user_cache_path

        return user_cache_path("framesearch", appauthor=False) / "models"

    def roboflow_key(self) -> str | None:
        """The Roboflow API key's value, for the clients that send it."""
        return self.roboflow_api_key.get_secret_value() if self.roboflow_api_key else None

    def api_keys(self) -> tuple[str | None, str | None]:
        """The service's full and read-only API keys (None where unset or blank)."""
        return _secret(self.api_key), _secret(self.read_api_key)


def store_options(settings: Settings) -> list[str]:
    """The options that name this store on a command line (none for the user's default library)."""
    import shlex

    if settings.qdrant_url:
        return ["--qdrant-url", settings.qdrant_url]
    return ["--store", shlex.quote(str(settings.store))] if settings.store != default_store() else []


def ingest_command(settings: Settings, source: str = "~/Videos", *, where: bool = True) -> str:
    """The command that adds videos to the library these settings name (as a user would type it); `where=False`
    leaves out the store's place (for answers over HTTP, which name no server paths)."""
    words = ["framesearch", "ingest", "local", source, "--recursive"]
    if where:
        words += store_options(settings)
    if settings.collection != Settings.model_fields["collection"].default:
        words += ["--collection", settings.collection]
    return " ".join(words)


def _secret(value: SecretStr | None) -> str | None:
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that make `Settings()` in another process equal `settings` (for worker processes)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):  # the separated form the field reads back
            value = (os.pathsep if name == "watch" else ",").join(map(str, value))
        env[env_names(name)[0]] = str(value)
    return env


def env_names(name: str) -> list[str]:
    """The environment variables that set field `name`, preferred first."""
    field = Settings.model_fields[name]
    if isinstance(field.validation_alias, AliasChoices):
        return [str(choice) for choice in field.validation_alias.choices]
    return [f"{ENV_PREFIX}{name.upper()}"]


def _default_text(name: str) -> str:
    if name == "store":
        return "the user's data folder (`~/.local/share/framesearch/library` on Linux)"
    default = Settings.model_fields[name].default
    if default is None or default == []:
        return "unset"
    return f"`{default}`"


def settings_table() -> str:
    """The Markdown table of every setting: variables, default and meaning (the README embeds it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variables = ", ".join(f"`{v}`" for v in env_names(name))
        rows.append(f"| {variables} | {_default_text(name)} | {field.description} |")
    return "\n".join(rows)
