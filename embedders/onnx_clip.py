"""CLIP from a model folder (visual.onnx, textual.onnx, tokenizer.json, config.json) on ONNX Runtime."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.errors import MissingDependency, ModelError
from framesearch.vectors import normalize

REQUIRED_FILES = ("config.json", "visual.onnx", "textual.onnx", "tokenizer.json")


@dataclass(frozen=True)
class ClipConfig:
    """The model folder's config.json (see docs/model-format.md)."""

    name: str
    embed_dim: int
    image_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    context_length: int
    pad_token_id: int = 0
    aliases: tuple[str, ...] = ()
    default_threshold: float = DEFAULT_THRESHOLD
    prompt_templates: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: Path) -> ClipConfig:
        try:
            raw = json.loads(path.read_text())
            return cls(
                name=str(raw["name"]),
                embed_dim=int(raw["embed_dim"]),
                image_size=int(raw["image_size"]),
                image_mean=_rgb(raw["image_mean"], "image_mean"),
                image_std=_rgb(raw["image_std"], "image_std"),
                context_length=int(raw["context_length"]),
                pad_token_id=int(raw.get("pad_token_id", 0)),
                aliases=tuple(str(a) for a in raw.get("aliases", ())),
                default_threshold=float(raw.get("default_threshold", DEFAULT_THRESHOLD)),
                prompt_templates=_templates(raw.get("prompt_templates") or []),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: invalid model config ({type(exc).__name__}: {exc})") from exc


def _rgb(raw: Any, name: str) -> tuple[float, float, float]:
    """One value per colour channel (red, green, blue)."""
    if not isinstance(raw, list | tuple) or len(raw) != 3:
        raise ValueError(f"{name} must be a list of 3 numbers (red, green, blue)")
    red, green, blue = (float(x) for x in raw)
    return red, green, blue


def _templates(raw: Any) -> tuple[str, ...]:
    """Prompt templates: a list of strings, each with one `{}` where the query goes."""
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.count("{}") == 1 for t in raw):
        raise ValueError("prompt_templates must be a list of strings, each with one {} for the query")
    return tuple(raw)


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependency("local CLIP needs onnxruntime: pip install onnxruntime (or onnxruntime-gpu)") from exc
    return onnxruntime


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime options with a deliberate thread count (the `ort_threads` setting, else all cores).

    Idle pool threads sleep instead of busy-waiting for the next run (ORT's default), which saves a run that
    comes alone ~30 ms of CPU on 2 cores, and gives the same vectors."""
    ort = _ort()
    opts = ort.SessionOptions()
    threads = threads or os.cpu_count() or 1
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def providers() -> list[str]:
    """CUDA when this onnxruntime build and machine have it (onnxruntime-gpu), else CPU."""
    available = _ort().get_available_providers()
    preferred = [p for p in ("CUDAExecutionProvider", "CoreMLExecutionProvider") if p in available]
    return preferred + ["CPUExecutionProvider"]


INPUT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32, "tensor(float16)": np.float16}


def run_tower(session: Any, arrays: list[np.ndarray]) -> np.ndarray:
    """Run a tower on its first inputs, cast to their declared types (some exports take int32 ids or float16
    pixels); row by row when the export fixed its batch size at 1."""
    inputs = session.get_inputs()[: len(arrays)]
    feed = {i.name: a.astype(INPUT_TYPES.get(i.type, a.dtype), copy=False) for i, a in zip(inputs, arrays, strict=True)}
    if inputs[0].shape and inputs[0].shape[0] == 1 and len(arrays[0]) > 1:
        rows = [session.run(None, {k: v[j : j + 1] for k, v in feed.items()})[0] for j in range(len(arrays[0]))]
        return np.concatenate(rows)
    return session.run(None, feed)[0]


class OnnxClip:
    """Text and image towers of one CLIP model folder; sessions are created on first use."""

    def __init__(self, folder: Path, threads: int | None = None, providers: list[str] | None = None) -> None:
        """`providers`: ONNX Runtime execution providers in order of preference (default: CUDA if present, CPU)."""
        self.folder = Path(folder)
        self.providers = providers
        missing = [f for f in REQUIRED_FILES if not (self.folder / f).is_file()]
        if missing:
            raise ModelError(f"model folder {self.folder} lacks {', '.join(missing)} (see docs/model-format.md)")
        self.config = ClipConfig.from_file(self.folder / "config.json")
        self.name = self.config.name
        self.aliases = self.config.aliases
        self.dim = self.config.embed_dim
        self.default_threshold = self.config.default_threshold
        self.threads = threads
        self._sessions: dict[str, Any] = {}
        self._tokenizer: Any = self._load_tokenizer()

    def _load_tokenizer(self) -> Any:
        """The folder's tokenizer, parsed now so that a broken file is a ModelError on load, not later."""
        from tokenizers import Tokenizer

        path = self.folder / "tokenizer.json"
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for a file it cannot parse
            raise ModelError(f"{path}: not a valid tokenizer ({str(exc)[:200]})") from None
        tok.enable_truncation(self.config.context_length)
        tok.enable_padding(length=self.config.context_length, pad_id=self.config.pad_token_id)
        return tok

    @property
    def input_size(self) -> int:
        """The side of the square the image tower sees."""
        return self.config.image_size

    @property
    def model_path(self) -> str:
        """The folder a collection records for this model."""
        return str(self.folder.resolve())

    def _session(self, tower: str) -> Any:
        """A tower's session. Neither tower's threads spin: the text tower embeds one query at a time, seldom back to
        back; the image tower runs while an ingest decodes and detects cuts, which a spinning pool starved (an
        overlapped ingest ran ~20% faster with ~0.4 s less CPU on 599 frames without it: docs/performance.md)."""
        if tower not in self._sessions:
            path = self.folder / f"{tower}.onnx"
            try:
                self._sessions[tower] = _ort().InferenceSession(
                    str(path), sess_options=session_options(self.threads), providers=self.providers or providers()
                )
            except MissingDependency:
                raise
            except Exception as exc:  # onnxruntime raises its own unexported error types
                raise ModelError(f"cannot load {path}: {exc}") from exc
            self._check_dim(path, self._sessions[tower].get_outputs()[0].shape)
        return self._sessions[tower]

    def _check_dim(self, path: Path, shape: Any) -> None:
        """The tower's vectors must have config.json's `embed_dim` (checked on load, and on each output)."""
        dim = shape[-1] if shape else None
        if isinstance(dim, int) and dim != self.dim:
            self._sessions.clear()
            raise ModelError(
                f"{path} makes {dim}-dimensional vectors, but {self.folder / 'config.json'} says embed_dim {self.dim}"
            )

    def _tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        return ids, mask

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text vectors, one row per text."""
        session = self._session("textual")
        ids, mask = self._tokenize(texts)
        vectors = run_tower(session, [ids, mask][: len(session.get_inputs())])
        self._check_dim(self.folder / "textual.onnx", vectors.shape)
        return normalize(vectors)

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Resize (shorter side, bicubic), centre-crop, scale and normalise to a [N,3,S,S] batch."""
        size = self.config.image_size
        mean = np.asarray(self.config.image_mean, dtype=np.float32)
        std = np.asarray(self.config.image_std, dtype=np.float32)
        batch = np.empty((len(images), 3, size, size), dtype=np.float32)
        for i, array in enumerate(images):
            pixels = np.asarray(array, dtype=np.uint8)
            if pixels.ndim == 3 and pixels.shape[2] == 3 and min(pixels.shape[:2]) == size:
                # already at the model's size (an ingest's sampled frames are scaled while decoded): a resize would
                # copy it unchanged, so only the crop is left (the same pixels, without Pillow: ~2x faster)
                height, width = pixels.shape[:2]
                left, top = (width - size) // 2, (height - size) // 2
                crop = pixels[top : top + size, left : left + size]
            else:
                crop = _resized_crop(pixels, size)
            batch[i] = ((crop.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
        return batch

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        """L2-normalised vectors of an already preprocessed batch."""
        vectors = run_tower(self._session("visual"), [batch])
        self._check_dim(self.folder / "visual.onnx", vectors.shape)
        return normalize(vectors)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised image vectors of RGB uint8 arrays (H x W x 3)."""
        return self.embed_pixels(self.preprocess(images))


def _resized_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """An RGB image resized so its shorter side is `size` (bicubic), then its centre `size` x `size` square."""
    from PIL import Image

    img = Image.fromarray(pixels).convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))
