"""Find the embedder for a model spec: a folder path, a bundled model's name, or `roboflow`.

Without a spec, the collection's recorded model is used (its folder if recorded, a bundled model of
that name, or Roboflow for `clip/...` names), so queries always meet vectors of the same model.
"""

from __future__ import annotations

from pathlib import Path

from framesearch.embedders.base import TextEmbedder, accepts
from framesearch.errors import ModelError, ModelMismatch
from framesearch.settings import Settings
from framesearch.store.schema import CollectionInfo

ROBOFLOW = "roboflow"


def bundled_models_dir() -> Path:
    """Models shipped inside the package (the small shapes CLIP for tests and demos)."""
    return Path(__file__).parent / "models"


def bundled_models() -> dict[str, Path]:
    """Bundled model folders by folder name and by their config's name."""
    import json

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


def _recorded_spec(info: CollectionInfo) -> str | None:
    """The model folder the collection recorded (if still there), else a bundled model of that name."""
    if info.model_path and Path(info.model_path, "config.json").is_file():
        return info.model_path
    return info.model if info.model in bundled_models() else None


def load_embedder(spec: str, settings: Settings) -> TextEmbedder:
    """Load the embedder a spec names (no check against a collection)."""
    target = resolve_model(spec)
    if target == ROBOFLOW:
        from framesearch.embedders.roboflow import RoboflowClipText

        key = settings.roboflow_api_key.get_secret_value() if settings.roboflow_api_key else None
        return RoboflowClipText(key, settings.roboflow_inference_url, settings.roboflow_clip_version)
    from framesearch.embedders.onnx_clip import OnnxClip

    return OnnxClip(Path(target))


def load_text_embedder(settings: Settings, info: CollectionInfo | None) -> TextEmbedder:
    """The query embedder for a collection: the configured one (checked) or the one it records."""
    spec = settings.model
    if spec is None:
        if info is None:
            raise ModelError("no model given and the store is empty: pass --model (a model folder or 'roboflow')")
        spec = _recorded_spec(info)
        if spec is None and info.model.startswith("clip/"):
            spec = ROBOFLOW
        if spec is None:
            raise ModelError(f"the collection's vectors come from {info.model!r}: pass --model with that model's folder")
    embedder = load_embedder(spec, settings)
    if info is not None and not accepts(embedder, info.model):
        raise ModelMismatch(
            f"the collection's vectors come from model {info.model!r}; the query model is {embedder.name!r}. "
            "Scores across different models are meaningless, even at the same dimension."
        )
    return embedder


def load_image_embedder(settings: Settings, info: CollectionInfo | None):
    """The local CLIP (an OnnxClip) that embeds frames; it must match the collection's model if there is one."""
    from framesearch.embedders.onnx_clip import OnnxClip

    spec = settings.model
    if spec is None and info is not None:
        spec = _recorded_spec(info)
    if spec is None:
        raise ModelError("local inference needs a model folder: pass --model DIR (see docs/models.md)")
    embedder = load_embedder(spec, settings)
    if not isinstance(embedder, OnnxClip):
        raise ModelError("local inference needs a local CLIP model folder, not 'roboflow'")
    if info is not None and not accepts(embedder, info.model):
        raise ModelMismatch(
            f"the collection holds vectors of model {info.model!r}; the model folder is {embedder.name!r}. "
            "Use another --collection or --store for another model."
        )
    return embedder
