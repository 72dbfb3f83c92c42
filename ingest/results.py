"""Parse and validate a Roboflow Video Inference results JSON (CLIP): frame offsets + one vector per frame.

The file holds equal-length lists: `frame_offset(s)`, `time_offset(s)` (seconds) and one list per model;
the CLIP list holds per frame `{"embeddings": [[...]]}` (or a flat vector), or null for a failed frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framesearch.errors import ResultsFormatError
from framesearch.vectors import is_finite_number

FRAME_KEYS = ("frame_offset", "frame_offsets")
TIME_KEYS = ("time_offset", "time_offsets")
DEFAULT_MODEL_KEY = "clip"


@dataclass(frozen=True)
class ParsedResults:
    """The usable frames of a results file, in time order."""

    frames: list[int]
    timestamps: list[float]
    vectors: np.ndarray
    skipped: int
    model_key: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def sample_fps(self) -> float | None:
        """Sampling rate of the frames (1 / median gap), or None with fewer than two frames."""
        if len(self.timestamps) < 2:
            return None
        gaps = np.diff(np.asarray(self.timestamps))
        gap = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.0
        return round(1.0 / gap, 3) if gap > 0 else None

    def video_fps(self) -> float | None:
        """The source video's frame rate implied by frame numbers over times, when they allow it."""
        pairs = [(f, t) for f, t in zip(self.frames, self.timestamps, strict=False) if t > 0 and f > 0]
        if not pairs:
            return None
        return round(float(np.median([f / t for f, t in pairs])), 3)


def _pick(data: dict[str, Any], keys: tuple[str, ...], where: str) -> list[Any]:
    found = [k for k in keys if k in data]
    if not found:
        raise ResultsFormatError(f"{where}: missing {' or '.join(repr(k) for k in keys)}")
    value = data[found[0]]
    if not isinstance(value, list):
        raise ResultsFormatError(f"{where}: {found[0]!r} must be a list, not {type(value).__name__}")
    return value


def _find_model_key(data: dict[str, Any], where: str) -> str:
    if DEFAULT_MODEL_KEY in data:
        return DEFAULT_MODEL_KEY
    for key, value in data.items():
        if key in FRAME_KEYS + TIME_KEYS or not isinstance(value, list):
            continue
        if any(isinstance(item, dict) and "embeddings" in item for item in value):
            return key
    raise ResultsFormatError(f"{where}: no CLIP list (a 'clip' key whose items hold 'embeddings')")


def _vector(item: Any, index: int, where: str) -> list[float]:
    emb = item.get("embeddings") if isinstance(item, dict) else None
    if emb is None:
        raise ResultsFormatError(f"{where}: frame {index} has no 'embeddings'")
    if isinstance(emb, list) and len(emb) == 1 and isinstance(emb[0], list):
        emb = emb[0]
    if not isinstance(emb, list) or not emb:
        raise ResultsFormatError(f"{where}: frame {index} 'embeddings' is not a non-empty vector")
    if not all(is_finite_number(x) for x in emb):
        raise ResultsFormatError(f"{where}: frame {index} has a non-numeric or non-finite value in its vector")
    return emb


def parse_results(data: Any, where: str = "results", model_key: str | None = None) -> ParsedResults:
    """Validate decoded results JSON; `where` names the input in error messages."""
    if not isinstance(data, dict):
        raise ResultsFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
    frames = _pick(data, FRAME_KEYS, where)
    times = _pick(data, TIME_KEYS, where)
    key = model_key or _find_model_key(data, where)
    if key not in data or not isinstance(data[key], list):
        raise ResultsFormatError(f"{where}: no list {key!r}")
    items = data[key]
    if not (len(frames) == len(times) == len(items)):
        raise ResultsFormatError(
            f"{where}: lists differ in length (frames {len(frames)}, times {len(times)}, {key} {len(items)})"
        )
    if not items:
        raise ResultsFormatError(f"{where}: no frames")
    rows: list[tuple[int, float, list[float]]] = []
    skipped = 0
    for i, (frame, time, item) in enumerate(zip(frames, times, items, strict=False)):
        if not is_finite_number(frame) or frame < 0 or frame != math.floor(frame):
            raise ResultsFormatError(f"{where}: frame offset {i} is not a non-negative integer")
        if not is_finite_number(time) or time < 0:
            raise ResultsFormatError(f"{where}: time offset {i} is not a non-negative number")
        if item is None:
            skipped += 1
            continue
        rows.append((int(frame), float(time), _vector(item, i, where)))
    if not rows:
        raise ResultsFormatError(f"{where}: every frame is null; nothing to index")
    dims = {len(v) for _, _, v in rows}
    if len(dims) > 1:
        raise ResultsFormatError(f"{where}: vectors differ in dimension ({sorted(dims)})")
    if len({f for f, _, _ in rows}) != len(rows):
        raise ResultsFormatError(f"{where}: a frame offset appears twice")
    rows.sort(key=lambda r: r[1])
    vectors = np.asarray([v for _, _, v in rows], dtype=np.float32)
    if not np.all(np.isfinite(vectors)) or np.any(np.linalg.norm(vectors, axis=1) == 0):
        raise ResultsFormatError(f"{where}: a vector is all zeros or overflows float32")
    return ParsedResults([f for f, _, _ in rows], [t for _, t, _ in rows], vectors, skipped, key)


def parse_results_bytes(raw: bytes, where: str = "results", model_key: str | None = None) -> ParsedResults:
    """Decode and validate a results JSON held in memory (an upload)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ResultsFormatError(f"{where}: not valid JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    return parse_results(data, where=where, model_key=model_key)


def load_results_file(path: Path, model_key: str | None = None) -> ParsedResults:
    """Read and validate a results file; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{path}: cannot read: {exc}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ResultsFormatError(f"{path}: not valid JSON: {str(exc)[:200]}") from None
    return parse_results(data, where=str(path), model_key=model_key)


def to_results_json(frames: list[int], timestamps: list[float], vectors: np.ndarray, model_key: str = "clip") -> dict:
    """The Roboflow results format for locally computed vectors (so both sources are interchangeable)."""
    return {
        "frame_offset": [int(f) for f in frames],
        "time_offset": [round(float(t), 4) for t in timestamps],
        model_key: [{"embeddings": [[float(x) for x in v]]} for v in np.asarray(vectors)],
    }
