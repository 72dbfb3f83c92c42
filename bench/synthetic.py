"""CLIP-like frame vectors for benchmarks, written as Roboflow results files that `framesearch ingest results` reads.

Real CLIP image vectors are far from uniform: every image shares a common direction (unrelated images score
~0.4-0.5), a video's frames come in scenes about a few topics, and consecutive frames of a scene are nearly
identical (~0.97). Uniform random vectors are a worst case for HNSW that no library looks like, so the search
benchmarks use this model instead: topics shared across videos, scenes of 20-400 frames drifting slowly, and
three query sets: a stored frame plus noise (cosine ~0.9 to it, like a second photo of the same moment), text-like
queries (a topic's direction plus noise: the best frame scores ~0.27, as a CLIP text query scores against images)
and random directions (nothing in the library is near them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FRAMES_PER_VIDEO = 1000
TOPICS = 300
FPS = 3.0
MODEL = "clip/bench-synthetic"  # a clip/ name: results of any dimension are taken as they are


def clip_like(n: int, dim: int = 512, seed: int = 0, frames_per_video: int = FRAMES_PER_VIDEO) -> np.ndarray:
    """`n` unit vectors, video after video, scene after scene (rounded to 5 decimals, as written to JSON)."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.normal(size=(TOPICS, dim)))
    common = _unit(rng.normal(size=dim)) * 1.2
    out = np.empty((n, dim), np.float32)
    i = 0
    while i < n:
        chosen = topics[rng.choice(TOPICS, size=3, replace=False)]
        end = min(n, i + frames_per_video)
        while i < end:
            length = min(end - i, int(rng.integers(20, 400)))
            centre = _unit(chosen[rng.integers(3)] + rng.normal(size=dim) * 0.045)
            drift = np.cumsum(rng.normal(size=(length, dim)) * 0.004, axis=0)
            out[i : i + length] = centre + drift + rng.normal(size=(length, dim)) * 0.012
            i += length
    return np.round(_unit(out + common), 5).astype(np.float32)


def noisy_queries(vectors: np.ndarray, count: int, seed: int = 1, noise: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Queries near stored frames: (the source frames' indexes, the query vectors)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, len(vectors), count)
    return source, _unit(vectors[source] + rng.normal(size=(count, vectors.shape[1])) * noise)


def topics(dim: int = 512, seed: int = 0) -> np.ndarray:
    """The topic directions `clip_like(..., seed=seed)` draws its scenes around (its first draws)."""
    return _unit(np.random.default_rng(seed).normal(size=(TOPICS, dim)))


def text_like_queries(vectors: np.ndarray, count: int, seed: int = 2, noise: float = 0.065, data_seed: int = 0) -> np.ndarray:
    """Queries like a CLIP text query against image vectors: the direction of a topic the library holds (the topic
    of a random stored frame's scene) plus noise, so that the best frame scores only ~0.27 and the top ten lie
    within ~0.01 of each other (a hard case for a graph search: many near-equal candidates, none close). `noise`
    is per dimension at 512 dimensions, scaled so that the best score stays ~0.27 at other sizes."""
    rng = np.random.default_rng(seed)
    dim = vectors.shape[1]
    held = topics(dim, data_seed)
    source = rng.integers(0, len(vectors), count)
    chosen = held[np.argmax(vectors[source] @ held.T, axis=1)]
    return _unit(chosen + rng.normal(size=chosen.shape) * noise * np.sqrt(512 / dim))


def random_queries(count: int, dim: int = 512, seed: int = 3) -> np.ndarray:
    """Uniformly random directions: no frame is near them (the best scores ~0.1); the hardest case for a graph."""
    return _unit(np.random.default_rng(seed).normal(size=(count, dim)))


def video_id(index: int) -> str:
    return f"v{index // FRAMES_PER_VIDEO:05d}"


def global_index(video: str, frame: int) -> int:
    """Where frame `frame` of video `video` sits in the generated array."""
    return int(video[1:]) * FRAMES_PER_VIDEO + frame


def write_results(vectors: np.ndarray, folder: Path, per_file: int = FRAMES_PER_VIDEO, first: int = 0) -> list[Path]:
    """One results file per video of `per_file` frames (numbered 0, 1, 2..., sampled at FPS) in `folder`; the
    files are named v00000.json, v00001.json... from video number `first`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(vectors), per_file):
        chunk = vectors[start : start + per_file]
        frames = list(range(len(chunk)))
        doc = {
            "frame_offset": frames,
            "time_offset": [round(f / FPS, 4) for f in frames],
            "clip": [{"embeddings": [row]} for row in chunk.tolist()],
        }
        path = folder / f"v{first + start // per_file:05d}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)
