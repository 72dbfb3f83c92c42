"""Which model embeds text and images for a collection: one resolver for the CLI, the service and its jobs.

A model spec is a folder path, a bundled model's name, a pulled model's name (`model pull`), or
`roboflow`. Without one, the collection's recorded model is used (its folder if still there, a bundled
or pulled model of that name, or, for the `clip/...` names of Roboflow's vectors, a pulled model with
that alias, else Roboflow itself), so queries always meet vectors of the same model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from framesearch.embedders.base import ImageEmbedder, ModelRecord, TextEmbedder, accepts
from framesearch.errors import LibraryEmpty, ModelError, ModelMismatch, ModelNotFound
from framesearch.settings import Settings, ingest_command, store_options

ROBOFLOW = "roboflow"
ROBOFLOW_PREFIX = "clip/"
MODEL_CHOICES = "a model folder, a bundled or pulled model's name, or 'roboflow'"
BUNDLED_DEFAULT = "tiny-shapes-clip"  # the bundled CLIP: the default when no real CLIP is pulled
REAL_CLIP = "ViT-B-16__openai"  # what the notes suggest pulling


@dataclass(frozen=True)
class Installed:
    """A model folder known by name: bundled with framesearch or pulled into the models folder."""

    spec: str  # what `--model` takes: the folder's name
    folder: Path
    config: dict[str, Any]
    kind: str  # "bundled" or "pulled"

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.spec))

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.config.get("aliases", ()))


def bundled_models_dir() -> Path:
    """Models shipped inside the package (the small shapes CLIP for tests and demos)."""
    return Path(__file__).parent / "models"


def _installed(root: Path | None, kind: str) -> list[Installed]:
    found = []
    for config in sorted(root.glob("*/config.json")) if root and root.is_dir() else []:
        if config.parent.name.startswith("."):
            continue
        try:
            found.append(Installed(config.parent.name, config.parent, json.loads(config.read_text()), kind))
        except (OSError, ValueError):
            continue
    return found


def installed_models(models_dir: Path | None = None) -> list[Installed]:
    """Bundled models, then the models pulled into `models_dir`."""
    return _installed(bundled_models_dir(), "bundled") + _installed(models_dir, "pulled")


def _by_name(models: list[Installed]) -> dict[str, Path]:
    """Model folders by folder name and by their config's name (the first one wins)."""
    found: dict[str, Path] = {}
    for model in models:
        found.setdefault(model.spec, model.folder)
    for model in models:
        found.setdefault(model.name, model.folder)
    return found


def bundled_models() -> dict[str, Path]:
    """Bundled model folders by folder name and by their config's name."""
    return _by_name(_installed(bundled_models_dir(), "bundled"))


def resolve_model(spec: str, models_dir: Path | None = None) -> Path | str:
    """A model folder for `spec` (a path, a bundled or a pulled model's name), or ROBOFLOW."""
    if spec == ROBOFLOW:
        return ROBOFLOW
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    models = installed_models(models_dir)
    known = _by_name(models)
    if spec in known:
        return known[spec]
    bundled = ", ".join(m.spec for m in models if m.kind == "bundled") or "none"
    pulled = ", ".join(m.spec for m in models if m.kind == "pulled") or "none"
    raise ModelNotFound(
        f"model {spec!r} is neither a model folder nor 'roboflow' nor a bundled model ({bundled}) nor a pulled model ({pulled})"
    )


def roboflow_clip(settings: Settings, version: str | None = None) -> Any:
    """Roboflow Inference's CLIP (text and images) for the configured server, key and CLIP version."""
    from framesearch.embedders.roboflow import RoboflowClip

    return RoboflowClip(settings.roboflow_key(), settings.roboflow_inference_url, version or settings.roboflow_clip_version)


KNOWN_DIMS = {"ViT-B": 512, "ViT-L": 768}  # CLIP vector sizes by architecture, whoever trained the weights


def known_dim(model: str) -> int | None:
    """The vector size a CLIP model's name implies (`clip/ViT-B-16`: 512, `ViT-L-14`: 768), if it says."""
    for arch, dim in KNOWN_DIMS.items():
        if re.search(rf"(?<![A-Za-z]){re.escape(arch)}(?![A-Za-z])", model, flags=re.IGNORECASE):
            return dim
    return None


@dataclass(frozen=True)
class ModelIdentity:
    """What vectors of a model are recorded as: its canonical name, size (if known) and folder (if any)."""

    name: str
    dim: int | None = None
    model_path: str | None = None
    aliases: tuple[str, ...] = ()

    def accepts(self, model: str) -> bool:
        return model == self.name or model in self.aliases

    def recorded(self, collection_model: str | None) -> str:
        """The name to store: the collection's, when it is this model under another name."""
        return collection_model if collection_model and self.accepts(collection_model) else self.name


def model_identity(spec: str, settings: Settings) -> ModelIdentity:
    """The identity of the model `spec` names, without loading it: a folder's (bundled or pulled model's) config,
    Roboflow's `clip/<version>` for `roboflow`, or a `clip/...` identity named as such."""
    from framesearch.embedders.onnx_clip import ClipConfig

    if spec == ROBOFLOW:
        name = f"{ROBOFLOW_PREFIX}{settings.roboflow_clip_version}"
        return ModelIdentity(name, known_dim(name))
    if spec.startswith(ROBOFLOW_PREFIX) and not Path(spec).expanduser().is_dir():
        return ModelIdentity(spec, known_dim(spec))
    folder = Path(resolve_model(spec, settings.models_path()))
    config = ClipConfig.from_file(folder / "config.json")
    return ModelIdentity(config.name, config.embed_dim, str(folder.resolve()), config.aliases)


def load_embedder(spec: str, settings: Settings) -> Any:
    """The embedder a spec names (no check against a collection): an OnnxClip or Roboflow's CLIP."""
    target = resolve_model(spec, settings.models_path())
    if target == ROBOFLOW:
        return roboflow_clip(settings)
    from framesearch.embedders.onnx_clip import OnnxClip

    return OnnxClip(Path(target), threads=settings.ort_threads)


def _recorded_embedder(recorded: ModelRecord, settings: Settings) -> Any:
    """The embedder of a collection's recorded model: its folder, a bundled or pulled model, or Roboflow."""
    if recorded.model_path and Path(recorded.model_path, "config.json").is_file():
        return load_embedder(recorded.model_path, settings)
    models = installed_models(settings.models_path())
    named = [m for m in models if recorded.model in (m.spec, m.name)]
    aliased = [m for m in models if recorded.model in m.aliases]
    if named or aliased:  # a local model of the same weights: no key, no network, no cost
        return load_embedder(str((named or aliased)[0].folder), settings)
    if recorded.model.startswith(ROBOFLOW_PREFIX):
        return roboflow_clip(settings, recorded.model.removeprefix(ROBOFLOW_PREFIX))
    raise ModelNotFound(
        f"the collection's vectors come from model {recorded.model!r}, whose folder is not here: "
        f"name that model ({MODEL_CHOICES})"
    )


@dataclass(frozen=True)
class DefaultModel:
    """The model a first ingest uses when none is named, and why (a sentence for the user)."""

    spec: str
    why: str


def default_model(settings: Settings) -> DefaultModel:
    """The model of a first ingest without `--model`: the one pulled model, else the bundled tiny CLIP."""
    pulled = [m.spec for m in installed_models(settings.models_path()) if m.kind == "pulled"]
    if len(pulled) == 1:
        return DefaultModel(pulled[0], f"the one pulled model, {pulled[0]}")
    if pulled:
        why = f"the bundled {BUNDLED_DEFAULT}, as several models are pulled ({', '.join(pulled)}) and none was named"
    else:
        why = (
            f"the bundled {BUNDLED_DEFAULT}, a tiny CLIP that sees only colours and shapes "
            f"(no real CLIP is pulled: `framesearch model pull {REAL_CLIP}` gets one)"
        )
    return DefaultModel(BUNDLED_DEFAULT, why)


def _embedder_for(settings: Settings, recorded: ModelRecord | None, images: bool) -> Any:
    if settings.model is None:
        if recorded is None and not images:
            raise LibraryEmpty(
                f"the library is empty (collection {settings.collection!r} holds no videos yet): add videos with "
                f"`{ingest_command(settings, where=False)}`",
                store_options=store_options(settings),
            )
        if recorded is None:  # the first ingest: the default model, recorded by the first write
            embedder = load_embedder(default_model(settings).spec, settings)
        else:
            embedder = _recorded_embedder(recorded, settings)
    else:
        embedder = load_embedder(settings.model, settings)
    if images and not hasattr(embedder, "embed_images"):
        raise ModelError(f"model {embedder.name!r} embeds text only; frames and query images need a CLIP model")
    if recorded is not None and not accepts(embedder, recorded.model):
        raise ModelMismatch(
            f"the collection's vectors come from model {recorded.model!r}; the chosen model is {embedder.name!r}. "
            "Scores across different models are meaningless, even at the same dimension: "
            "use that model, or another collection or store."
        )
    return embedder


def text_embedder(settings: Settings, recorded: ModelRecord | None) -> TextEmbedder:
    """The query embedder for a collection: the configured model (checked against it) or the one it records."""
    return _embedder_for(settings, recorded, images=False)


def image_embedder(settings: Settings, recorded: ModelRecord | None) -> ImageEmbedder:
    """The embedder of frames and query images for a collection, chosen and checked like `text_embedder`."""
    return _embedder_for(settings, recorded, images=True)


class ModelEntry(BaseModel):
    """One model `--model` can name: bundled or pulled, with its identity and where it came from."""

    spec: str
    name: str
    aliases: list[str]
    kind: str  # bundled, pulled or remote
    embed_dim: int | None
    folder: str | None
    source: str | None = None


def list_models(settings: Settings) -> list[ModelEntry]:
    """Every bundled and pulled model, then Roboflow's CLIP (remote), for `model list`."""
    from framesearch.embedders.hub import read_source

    entries = []
    for model in installed_models(settings.models_path()):
        source = read_source(model.folder) if model.kind == "pulled" else None
        origin = f"{source.get('repo_id')}@{str(source.get('commit', ''))[:12]}" if source else None
        dim = model.config.get("embed_dim")
        entries.append(
            ModelEntry(
                spec=model.spec,
                name=model.name,
                aliases=list(model.aliases),
                kind=model.kind,
                embed_dim=int(dim) if isinstance(dim, int) else None,
                folder=str(model.folder),
                source=origin,
            )
        )
    version = settings.roboflow_clip_version
    entries.append(
        ModelEntry(
            spec=ROBOFLOW,
            name=f"{ROBOFLOW_PREFIX}{version}",
            aliases=[],
            kind="remote",
            embed_dim=None,
            folder=None,
            source=settings.roboflow_inference_url,
        )
    )
    return entries
