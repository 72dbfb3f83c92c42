"""Export a real CLIP (Hugging Face transformers or open_clip) to a framesearch model folder (docs/models.md).

torch, transformers and open_clip are imported only inside the functions that need them: they are an
optional extra (`pip install 'framesearch[export]'`), never needed to run an exported folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.errors import InvalidInput, MissingDependency, ModelError

INSTALL = "pip install 'framesearch[export]'"
OPEN_CLIP_INSTALL = "pip install open_clip_torch (it also pulls torchvision: pick the build matching your torch)"
# OpenAI's released CLIP weights on the Hugging Face hub, by their open_clip architecture name.
OPENAI_HF_IDS = {
    "openai/clip-vit-base-patch32": "ViT-B-32",
    "openai/clip-vit-base-patch16": "ViT-B-16",
    "openai/clip-vit-large-patch14": "ViT-L-14",
    "openai/clip-vit-large-patch14-336": "ViT-L-14-336",
}
# Roboflow's `clip_version_id` for each OpenAI CLIP it hosts (all OpenAI weights); vectors it makes are `clip/<id>`.
ROBOFLOW_VERSIONS = {
    "RN50": "RN50",
    "RN101": "RN101",
    "RN50x4": "RN50x4",
    "RN50x16": "RN50x16",
    "RN50x64": "RN50x64",
    "ViT-B-32": "ViT-B-32",
    "ViT-B-16": "ViT-B-16",
    "ViT-L-14": "ViT-L-14",
    "ViT-L-14-336": "ViT-L-14-336px",
}
# open_clip has no tokenizer.json: OpenAI-vocabulary models share this fast tokenizer's BPE.
CLIP_BPE_TOKENIZER = "openai/clip-vit-base-patch32"
PAD_TOKEN_ID = 0  # OpenAI CLIP pads with 0 after the end-of-text token
MIN_COSINE = 0.999
CHECK_TEXTS = (
    "a photo of a cat",
    "red and blue squares on a white background",
    "a very long caption that goes on " * 12,
)


def hf_model_name(source: str) -> str:
    """The identity of a Hugging Face CLIP: `ViT-B-16/openai` for OpenAI's weights, else the hub id or folder name."""
    key = source.strip().rstrip("/")
    if key.lower() in OPENAI_HF_IDS:
        return f"{OPENAI_HF_IDS[key.lower()]}/openai"
    path = Path(key).expanduser()
    return path.resolve().name if path.is_dir() else key


def open_clip_model_name(arch: str, pretrained: str) -> str:
    """The identity of an open_clip model: `ARCH/TAG` (OpenAI weights are the same with or without -quickgelu)."""
    if pretrained == "openai":
        arch = arch.removesuffix("-quickgelu")
    return f"{arch}/{pretrained}"


def aliases_for(name: str) -> tuple[str, ...]:
    """Other names of the same weights: Roboflow's `clip/<version>` for OpenAI's CLIP weights."""
    arch, _, tag = name.partition("/")
    if tag == "openai" and arch in ROBOFLOW_VERSIONS:
        return (f"clip/{ROBOFLOW_VERSIONS[arch]}",)
    return ()


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency(f"exporting a CLIP needs torch: {INSTALL}") from exc
    return torch


def _transformers() -> Any:
    _torch()
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency(f"exporting a Hugging Face CLIP needs transformers: {INSTALL}") from exc
    return transformers


def _open_clip() -> Any:
    _torch()
    try:
        import open_clip  # pyright: ignore[reportMissingImports]  # optional, in no extra (docs/models.md)
    except ImportError as exc:
        raise MissingDependency(f"exporting an open_clip model needs open_clip: {OPEN_CLIP_INSTALL}") from exc
    return open_clip


def _features(output: Any) -> Any:
    """The embedding tensor of a tower's output (transformers >= 5 wraps it in pooler_output)."""
    return getattr(output, "pooler_output", output)


def _tower(torch: Any, owner: Any, encode: Callable[..., Any]) -> Any:
    """A module whose forward is `encode` (an image or text tower of `owner`), ready for ONNX export."""

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.owner = owner

        def forward(self, inputs: Any, mask: Any = None) -> Any:
            return _features(encode(inputs) if mask is None else encode(inputs, mask))

    return Tower().eval()


def _export_onnx(module: Any, args: tuple[Any, ...], path: Path, input_names: list[str], output_name: str) -> None:
    """TorchScript-based ONNX export (opset 17) with a dynamic batch axis on every input and the output."""
    torch = _torch()
    axes = {n: {0: "batch"} for n in [*input_names, output_name]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notes; the result is checked numerically
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=input_names,
                output_names=[output_name],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
                do_constant_folding=True,
            )
        except Exception as exc:  # torch raises many unexported error types from tracing and export
            raise ModelError(f"ONNX export of {path.stem} failed: {type(exc).__name__}: {exc}") from exc


def _save_tokenizer(backend: Any, path: Path) -> None:
    """Save a `tokenizers.Tokenizer` without padding or truncation (framesearch sets both from config.json)."""
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    copy.no_truncation()
    copy.save(str(path))


def _write_config(folder: Path, name: str, embed_dim: int, image_size: int, mean: Any, std: Any, context_length: int) -> None:
    config = {
        "name": name,
        "aliases": list(aliases_for(name)),
        "embed_dim": int(embed_dim),
        "image_size": int(image_size),
        "image_mean": [float(x) for x in mean],
        "image_std": [float(x) for x in std],
        "context_length": int(context_length),
        "pad_token_id": PAD_TOKEN_ID,
        "default_threshold": DEFAULT_THRESHOLD,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def check_images() -> list[np.ndarray]:
    """Two deterministic RGB images of different shapes, for comparing towers."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 48 * 40 * 3).reshape(40, 48, 3)
    return [ramp.astype(np.uint8), rng.integers(0, 256, size=(64, 50, 3), dtype=np.uint8)]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def verify_folder(
    folder: Path,
    text_reference: Callable[[Sequence[str]], np.ndarray],
    image_reference: Callable[[np.ndarray], np.ndarray],
) -> float:
    """Load the folder as framesearch does and compare its vectors with PyTorch's; the lowest cosine."""
    from framesearch.embedders.onnx_clip import OnnxClip

    clip = OnnxClip(folder)
    pixels = clip.preprocess(check_images())
    pairs = [
        ("text", clip.embed_texts(CHECK_TEXTS), text_reference(CHECK_TEXTS)),
        ("image", clip.embed_pixels(pixels), image_reference(pixels)),
    ]
    worst = 1.0
    for tower, ours, theirs in pairs:
        if ours.shape != theirs.shape or ours.shape[1] != clip.dim:
            raise ModelError(f"exported {tower} tower gives shape {ours.shape}; PyTorch {theirs.shape}, config dim {clip.dim}")
        low = float(_cosines(ours, np.asarray(theirs, dtype=np.float32)).min())
        if not low > MIN_COSINE:
            raise ModelError(f"exported {tower} tower disagrees with PyTorch (cosine {low:.5f} < {MIN_COSINE})")
        worst = min(worst, low)
    return worst


def _check_output(out: Path) -> Path:
    """`out` (expanded), refused if it exists as anything but an empty folder."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} already exists and is not an empty folder: choose another output folder")
    return out


def _into_folder(out: Path, build: Callable[[Path], None]) -> Path:
    """Run `build` on a temporary sibling folder and rename it to `out` only when it succeeds."""
    out = _check_output(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise InvalidInput(f"cannot write a model folder in {out.parent}: {exc}") from exc
    try:
        build(tmp)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _load_hf(transformers: Any, source: str) -> tuple[Any, Any, Any]:
    """CLIPModel (eager attention, eval), its fast tokenizer and image processor, from a hub id or folder."""
    try:
        model = transformers.CLIPModel.from_pretrained(source, attn_implementation="eager").eval()
        tokenizer = transformers.CLIPTokenizerFast.from_pretrained(source)
        processor = transformers.CLIPImageProcessor.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a Hugging Face CLIP from {source!r}: {exc}") from exc
    return model, tokenizer, processor


def export_hf_clip(source: str, out: Path, name: str | None = None) -> Path:
    """Export a transformers CLIPModel (hub id or local folder) to a model folder at `out`; returns `out`."""
    transformers, torch = _transformers(), _torch()
    _check_output(out)
    if source.startswith(("/", ".", "~")) and not Path(source).expanduser().is_dir():
        raise InvalidInput(f"{source}: no such model folder")
    model, tokenizer, processor = _load_hf(transformers, source)
    length = int(model.config.text_config.max_position_embeddings)
    size = int(model.config.vision_config.image_size)

    def texts_ref(texts: Sequence[str]) -> np.ndarray:
        batch = tokenizer(list(texts), padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with torch.no_grad():
            return _numpy(_features(model.get_text_features(batch["input_ids"], batch["attention_mask"])))

    def images_ref(pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return _numpy(_features(model.get_image_features(torch.from_numpy(pixels))))

    def build(tmp: Path) -> None:
        _save_tokenizer(tokenizer.backend_tokenizer, tmp / "tokenizer.json")
        ids, mask = _example_ids(tmp / "tokenizer.json", length)
        text = _tower(torch, model, model.get_text_features)
        _export_onnx(text, (ids, mask), tmp / "textual.onnx", ["input_ids", "attention_mask"], "text_embeds")
        image = _tower(torch, model, model.get_image_features)
        _export_onnx(image, (torch.zeros(2, 3, size, size),), tmp / "visual.onnx", ["pixel_values"], "image_embeds")
        dim = int(model.config.projection_dim)
        _write_config(tmp, name or hf_model_name(source), dim, size, processor.image_mean, processor.image_std, length)
        verify_folder(tmp, texts_ref, images_ref)

    return _into_folder(out, build)


def _example_ids(tokenizer_json: Path, length: int) -> tuple[Any, Any]:
    """A padded batch of two texts of different lengths, tokenized as framesearch will (pad id 0)."""
    torch = _torch()
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_truncation(length)
    tok.enable_padding(length=length, pad_id=PAD_TOKEN_ID)
    encoded = tok.encode_batch(["a photo", "a photo of a cat on a mat"])
    ids = torch.tensor([e.ids for e in encoded], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.int64)
    return ids, mask


def _open_clip_preprocess(open_clip: Any, model: Any) -> tuple[int, list[float], list[float]]:
    """Image size, mean and std from the model's preprocess config (older open_clip: visual attributes)."""
    getter = getattr(open_clip, "get_model_preprocess_cfg", None)
    cfg = dict(getter(model)) if getter else {}
    visual = getattr(model, "visual", model)
    size = cfg.get("size", getattr(visual, "image_size", None))
    mean = cfg.get("mean", getattr(visual, "image_mean", None))
    std = cfg.get("std", getattr(visual, "image_std", None))
    if size is None or mean is None or std is None:
        raise ModelError("cannot read the open_clip model's image size, mean and std")
    if cfg.get("resize_mode", "shortest") != "shortest":
        raise ModelError(f"the model resizes images by {cfg['resize_mode']!r}; framesearch resizes the shorter side and crops")
    sizes = size if isinstance(size, (tuple, list)) else (size, size)
    if sizes[0] != sizes[1]:
        raise ModelError(f"non-square image size {tuple(sizes)} is not supported")
    return int(sizes[0]), [float(x) for x in mean], [float(x) for x in std]


def _open_clip_context_length(open_clip: Any, model: Any, arch: str) -> int:
    getter = getattr(open_clip, "get_model_tokenize_cfg", None)
    length = (getter(model) if getter else {}).get("context_length") or getattr(model, "context_length", None)
    return int(length or open_clip.get_tokenizer(arch).context_length)


def _clip_bpe_tokenizer(source: str, vocab_size: int | None) -> Any:
    """The CLIP BPE fast tokenizer's backend, checked against the model's vocabulary size."""
    transformers = _transformers()
    try:
        backend = transformers.CLIPTokenizerFast.from_pretrained(source).backend_tokenizer
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the CLIP tokenizer {source!r}: {exc}") from exc
    if vocab_size is not None and backend.get_vocab_size() != vocab_size:
        raise ModelError(
            f"the model's vocabulary has {vocab_size} tokens, CLIP's BPE {backend.get_vocab_size()}: "
            "only open_clip models with OpenAI's CLIP vocabulary can be exported"
        )
    return backend


def export_open_clip(arch: str, pretrained: str, out: Path, name: str | None = None, *, tokenizer: str | None = None) -> Path:
    """Export an open_clip model (`arch` + `pretrained` tag or checkpoint) to a model folder at `out`.

    tokenizer.json comes from the Hugging Face CLIP tokenizer `tokenizer` (default CLIP_BPE_TOKENIZER: OpenAI's BPE), so
    only models with OpenAI's vocabulary (the CLIP ViT/RN families, not SigLIP, mT5 or XLM-R text towers) export correctly.
    """
    open_clip, torch = _open_clip(), _torch()
    _check_output(out)
    if name is None and Path(pretrained).expanduser().is_file():
        raise InvalidInput("a checkpoint file has no known identity: give --name (e.g. ViT-B-32/my-finetune)")
    try:
        model = open_clip.create_model_and_transforms(arch, pretrained=pretrained)[0].eval()
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot create open_clip model {arch!r} with weights {pretrained!r}: {exc}") from exc
    size, mean, std = _open_clip_preprocess(open_clip, model)
    length = _open_clip_context_length(open_clip, model, arch)
    embedding = getattr(model, "token_embedding", None)
    backend = _clip_bpe_tokenizer(tokenizer or CLIP_BPE_TOKENIZER, getattr(embedding, "num_embeddings", None))
    oc_tokenize = open_clip.get_tokenizer(arch)

    def texts_ref(texts: Sequence[str]) -> np.ndarray:
        with torch.no_grad():
            return _numpy(model.encode_text(oc_tokenize(list(texts))))

    def images_ref(pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return _numpy(model.encode_image(torch.from_numpy(pixels)))

    def build(tmp: Path) -> None:
        _save_tokenizer(backend, tmp / "tokenizer.json")
        ids, _ = _example_ids(tmp / "tokenizer.json", length)
        _export_onnx(_tower(torch, model, model.encode_text), (ids,), tmp / "textual.onnx", ["input_ids"], "text_embeds")
        pixels = torch.zeros(2, 3, size, size)
        _export_onnx(_tower(torch, model, model.encode_image), (pixels,), tmp / "visual.onnx", ["pixel_values"], "image_embeds")
        dim = int(images_ref(pixels[:1].numpy()).shape[-1])
        _write_config(tmp, name or open_clip_model_name(arch, pretrained), dim, size, mean, std, length)
        verify_folder(tmp, texts_ref, images_ref)

    return _into_folder(out, build)


def export_model(source: str, out: Path, fmt: str | None = None, pretrained: str | None = None, name: str | None = None) -> Path:
    """Export by format: `hf` (SOURCE is a hub id or folder) or `open_clip` (SOURCE is an architecture + `pretrained`)."""
    fmt = fmt or ("open_clip" if pretrained else "hf")
    if fmt == "hf":
        if pretrained:
            raise InvalidInput("--pretrained is for --format open_clip; a Hugging Face source names its own weights")
        return export_hf_clip(source, out, name)
    if fmt == "open_clip":
        if not pretrained:
            raise InvalidInput("--format open_clip needs --pretrained TAG (e.g. openai, laion2b_s34b_b79k)")
        return export_open_clip(source, pretrained, out, name)
    raise InvalidInput(f"unknown format {fmt!r}: use hf or open_clip")


def describe_folder(folder: Path) -> dict[str, Any]:
    """A model folder's config, checked by loading both towers and embedding a text and an image."""
    from framesearch.embedders.onnx_clip import OnnxClip

    clip = OnnxClip(folder)
    text = clip.embed_texts(["a photo of a cat"])
    image = clip.embed_images(check_images()[:1])
    for tower, vectors in (("text", text), ("image", image)):
        if vectors.shape != (1, clip.dim) or not np.all(np.isfinite(vectors)):
            raise ModelError(f"{folder}: the {tower} tower gives shape {vectors.shape}, config embed_dim is {clip.dim}")
    raw = json.loads((Path(folder) / "config.json").read_text())
    return {**raw, "folder": str(Path(folder).resolve())}
