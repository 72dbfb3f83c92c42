"""Which model embeds text and images for a collection: one resolver for the CLI, the service and its jobs.

A model spec is a folder path, a bundled model's name, or `roboflow`. Without one, the collection's
recorded model is used (its folder if still there, a bundled model of that name, or Roboflow for the
`clip/...` names Roboflow's vectors carry), so queries always meet vectors of the same model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framesearch.embedders.base import ImageEmbedder, ModelRecord, TextEmbedder, accepts
from framesearch.errors import ModelError, ModelMismatch
from framesearch.settings import Settings

ROBOFLOW = "roboflow"
ROBOFLOW_PREFIX = "clip/"
MODEL_CHOICES = "a model folder, a bundled model name (e.g. 'tiny-shapes-clip') or 'roboflow'"


def bundled_models_dir() -> Path:
    """Models shipped inside the package (the small shapes CLIP for tests and demos)."""
    return Path(__file__).parent / "models"


def bundled_models() -> dict[str, Path]:
    """Bundled model folders by folder name and by their config's name."""
    found: dict[str, Path] = {}
    root = bundled_models_dir()
    for config in sorted(root.glob("*/config.json")) if root.is_dir() else []:
        found[config.parent.name] = config.parent
        try:
            found.setdefault(json.loads(config.read_text())["name"], config.parent)
        except (OSError, ValueError, KeyError):
            continue
    return found


def resolve_model(spec: str) -> Path | str:
    """A model folder for `spec`, or ROBOFLOW."""
    if spec == ROBOFLOW:
        return ROBOFLOW
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    bundled = bundled_models()
    if spec in bundled:
        return bundled[spec]
    names = ", ".join(sorted(bundled)) or "none"
    raise ModelError(f"model {spec!r} is neither a model folder nor 'roboflow' nor a bundled model ({names})")


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
    """The identity of the model `spec` names, without loading it: a folder's (or bundled model's) config,
    Roboflow's `clip/<version>` for `roboflow`, or a `clip/...` identity named as such."""
    from framesearch.embedders.onnx_clip import ClipConfig

    if spec == ROBOFLOW:
        name = f"{ROBOFLOW_PREFIX}{settings.roboflow_clip_version}"
        return ModelIdentity(name, known_dim(name))
    if spec.startswith(ROBOFLOW_PREFIX) and not Path(spec).expanduser().is_dir():
        return ModelIdentity(spec, known_dim(spec))
    folder = Path(resolve_model(spec))
    config = ClipConfig.from_file(folder / "config.json")
    return ModelIdentity(config.name, config.embed_dim, str(folder.resolve()), config.aliases)


def load_embedder(spec: str, settings: Settings) -> Any:
    """The embedder a spec names (no check against a collection): an OnnxClip or Roboflow's text CLIP."""
    target = resolve_model(spec)
    if target == ROBOFLOW:
        from framesearch.embedders.roboflow import RoboflowClipText

        return RoboflowClipText(settings.roboflow_key(), settings.roboflow_inference_url, settings.roboflow_clip_version)
    from framesearch.embedders.onnx_clip import OnnxClip

    return OnnxClip(Path(target), threads=settings.ort_threads)


def _recorded_spec(recorded: ModelRecord, images: bool) -> str:
    """The spec of the model a collection records: its folder if still there, a bundled model, or Roboflow."""
    if recorded.model_path and Path(recorded.model_path, "config.json").is_file():
        return recorded.model_path
    if recorded.model in bundled_models():
        return recorded.model
    if recorded.model.startswith(ROBOFLOW_PREFIX) and not images:
        return ROBOFLOW
    raise ModelError(
        f"the collection's vectors come from model {recorded.model!r}, whose folder is not here: "
        f"name that model ({MODEL_CHOICES})"
    )


def _embedder_for(settings: Settings, recorded: ModelRecord | None, images: bool) -> Any:
    spec = settings.model
    if spec is None:
        if recorded is None:
            raise ModelError(f"no model given and the store is empty: name one ({MODEL_CHOICES})")
        spec = _recorded_spec(recorded, images)
    embedder = load_embedder(spec, settings)
    if images and not hasattr(embedder, "embed_images"):
        raise ModelError(f"model {spec!r} embeds text only; frames and query images need a CLIP model folder")
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
