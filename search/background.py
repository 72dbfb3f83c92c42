"""Absolute confidence: how likely a frame shows the query, against a background bank of captions for that frame.

A frame's raw cosine with a query says little by itself: its level differs per query and per model, and every query
has a best frame. So each frame is asked, zero-shot style, which caption describes it: the query or one of a fixed
bank of background captions (generic ones, and the model folder's own, e.g. near misses in its domain),

    confidence(q, f) = exp(T cos(q, f)) / (exp(T cos(q, f)) + exp(T a) + sum_b exp(T cos(b, f)))      ("sum")

or, for a model whose frames often show several things at once, against the strongest rival caption only,

    confidence(q, f) = sigmoid(T (cos(q, f) - max(a, max_b cos(b, f)) + m))                          ("max")

(a frame with a red square beside a blue circle answers both "a red square" and "a blue circle": under "sum" the
two true captions share the frame, under "max" each is as good as the best caption and stays confident; a query
that a rival beats by more than the margin m is not shown), with T the model's calibration temperature and a its
match level (a caption that scores a on every frame: a frame
that no caption of the bank describes, e.g. one the model has never seen the like of, still needs the query to score
well above a; default the model's `default_threshold`, the cosine floor suited to it). It is the same scale for
every query, needs nothing from the rest of the library, and is low wherever the background explains the frame as
well as the query: a nonsense query, a shape that is not there ("a yellow star" on a yellow triangle loses to the
bank's "a yellow triangle"), an ordinary clip under a shapes query. Bank captions that are the query itself (text
cosine >= `exclude_similarity`) leave the bank for that query, except the null captions ("", "an image", ...), which
stay: a query that says nothing is no better than them.

The model folder's `calibration.json` (docs/model-format.md) holds its `prompts` (added to the generic ones),
`temperature`, `anchor`, `exclude_similarity`, `pooling` ("sum", the default, or "max") and `margin` (m, default
0); a model without one gets the generic bank and CLIP's logit scale
(100). The bank is embedded once per model (with the model's prompt templates, as queries are) and cached in memory and in
`calibration-cache.npz` beside the model folder's files when the folder is writable.

Searching still runs on raw cosines: a confidence floor c becomes the raw floor
`min over the library sample of (1/T) log(exp(T a) + sum_b exp(T cos(b, f))) + logit(c) / T - SLACK`, below which no frame of
the sample reaches c; frames above it are scored and those below c are dropped (docs/search.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.search.calibration import PerQuery, library_sample, library_stamp
from framesearch.search.prompts import templates_of
from framesearch.store.base import VectorStore
from framesearch.vectors import normalize

CALIBRATION_FILE = "calibration.json"
CACHE_FILE = "calibration-cache.npz"
DEFAULT_TEMPERATURE = 100.0  # CLIP's logit scale
DEFAULT_EXCLUDE = 0.97
SLACK = 0.02  # raw-floor margin for frames outside the library sample
NULL_PROMPTS = ("", "an image", "a photo", "a video frame", "a picture")
GENERIC_PROMPTS = (
    "a blank screen", "a black screen", "a white screen", "a dark frame", "a blurry image", "noise", "a texture",
    "a pattern", "a gradient", "text", "a logo", "title credits", "a person", "people", "a face", "a crowd", "a room",
    "an office", "a kitchen", "a street", "a road", "a car", "a building", "a city", "a landscape", "the sky", "clouds",
    "trees", "grass", "a forest", "water", "the sea", "an animal", "a dog", "a cat", "a bird", "food", "a table",
    "a screen", "a cartoon", "a black and white film", "an advert", "a hand", "a bottle", "a cup", "a flower",
)  # fmt: skip


@dataclass(frozen=True)
class Bank:
    """A model's background captions, their vectors (L2-normalised rows) and its calibration constants."""

    texts: tuple[str, ...]
    vectors: np.ndarray
    null: np.ndarray  # bool per row: a null caption, never left out
    temperature: float
    exclude_similarity: float
    anchor: float  # the model's match-level cosine: a caption scoring this on every frame joins the background
    pooling: str = "sum"  # how the background's captions combine: "sum" (softmax) or "max" (the strongest rival)
    margin: float = 0.0  # "max": how far under the strongest rival a query may score and still be half confident

    @property
    def key(self) -> str:
        return hashlib.sha1("\n".join(self.texts).encode() + str(self.temperature).encode()).hexdigest()[:16]


_SETTINGS: dict[Path, tuple[tuple[int, int], dict]] = {}


def _model_settings(folder: Path | None) -> dict:
    """The model folder's calibration.json, read again only when the file changes (one stat per search)."""
    path = folder / CALIBRATION_FILE if folder is not None else None
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        stat = None
    if path is None or stat is None:
        return {}
    seen = (stat.st_mtime_ns, stat.st_size)
    kept = _SETTINGS.get(path)
    if kept is not None and kept[0] == seen:
        return kept[1]
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    settings = raw if isinstance(raw, dict) else {}
    _SETTINGS[path] = (seen, settings)
    return settings


def _embed(embedder: object, texts: list[str]) -> np.ndarray:
    """Each caption embedded as a query is (the mean over the model's prompt templates, when it has some)."""
    templates = templates_of(embedder) or ("{}",)
    filled = [t.replace("{}", text) for text in texts for t in templates]
    vectors = np.asarray(embedder.embed_texts(filled), dtype=np.float32)  # type: ignore[attr-defined]
    return normalize(vectors.reshape(len(texts), len(templates), -1).mean(axis=1))


def _weights(folder: Path | None) -> list:
    """The model files' sizes and times: a model retrained in place (same name, same captions) embeds anew."""
    if folder is None or not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != CACHE_FILE and not p.name.startswith("."))
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.suffix in (".onnx", ".json", ".bin")]


def _cached_vectors(folder: Path | None, digest: str) -> np.ndarray | None:
    path = folder / CACHE_FILE if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return data["vectors"] if str(data["digest"]) == digest else None
    except (OSError, ValueError, KeyError):
        return None


def _store_vectors(folder: Path | None, digest: str, vectors: np.ndarray) -> None:
    if folder is None:
        return
    try:
        tmp = folder / f".{CACHE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp.npz"
        np.savez(tmp, vectors=vectors, digest=np.asarray(digest))
        tmp.replace(folder / CACHE_FILE)
    except OSError:  # a read-only model folder: the in-memory cache serves
        pass


_BANKS: dict[tuple, Bank] = {}
_LOCK = threading.Lock()


def bank_for(embedder: object) -> Bank:
    """The embedder's model's background bank (built, embedded and cached on first use)."""
    folder = getattr(embedder, "folder", None)
    folder = Path(folder) if folder is not None else None
    name = str(getattr(embedder, "name", type(embedder).__name__))
    settings = _model_settings(folder)
    own = tuple(str(p) for p in settings.get("prompts", ()) if isinstance(p, str))
    texts = tuple(dict.fromkeys(NULL_PROMPTS + GENERIC_PROMPTS + own))
    temperature = float(settings.get("temperature", DEFAULT_TEMPERATURE))
    exclude = float(settings.get("exclude_similarity", DEFAULT_EXCLUDE))
    anchor = float(settings.get("anchor", getattr(embedder, "default_threshold", DEFAULT_THRESHOLD)))
    pooling = "max" if settings.get("pooling") == "max" else "sum"
    margin = float(settings.get("margin", 0.0)) if pooling == "max" else 0.0
    key = (name, str(folder), texts, templates_of(embedder), temperature, exclude, anchor, pooling, margin)
    with _LOCK:
        if key in _BANKS:
            return _BANKS[key]
    digest = hashlib.sha1(json.dumps([name, texts, templates_of(embedder), _weights(folder)]).encode()).hexdigest()
    vectors = _cached_vectors(folder, digest)
    if vectors is None or vectors.shape[0] != len(texts):
        vectors = _embed(embedder, list(texts))
        _store_vectors(folder, digest, vectors)
    null = np.asarray([t in NULL_PROMPTS for t in texts])
    bank = Bank(texts, normalize(vectors), null, temperature, exclude, anchor, pooling, margin)
    with _LOCK:
        _BANKS[key] = bank
    return bank


_SAMPLES: weakref.WeakKeyDictionary[VectorStore, tuple[tuple, str, np.ndarray]] = weakref.WeakKeyDictionary()


def sample_bank_scores(store: VectorStore, bank: Bank) -> np.ndarray:
    """Cosines of the library sample's frames (rows) with the bank's captions (columns), cached per library state."""
    stamp = library_stamp(store)
    with _LOCK:
        cached = _SAMPLES.get(store)
        if cached is not None and cached[0] == stamp and cached[1] == bank.key:
            return cached[2]
    sample = library_sample(store)
    ok = len(sample) and sample.shape[1] == bank.vectors.shape[1]
    scores = sample @ bank.vectors.T if ok else np.zeros((0, len(bank.texts)), np.float32)
    with _LOCK:
        _SAMPLES[store] = (stamp, bank.key, scores)
    return scores


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


@dataclass(frozen=True)
class BankCalibration:
    """One query's absolute scale: its vector, the bank columns it is contrasted with, and the raw-floor bound."""

    query: np.ndarray
    bank: np.ndarray  # the kept captions' vectors
    temperature: float
    anchor: float
    background_floor: float  # min over the library sample of background(f) / T; -1 when unknown
    pooling: str = "sum"
    margin: float = 0.0

    def background(self, cosines: np.ndarray) -> np.ndarray:
        """T times each frame's background level, from its cosines with the bank's captions (rows: frames)."""
        t = self.temperature
        if self.pooling == "max":
            return t * (np.maximum(cosines.max(axis=1), self.anchor) - self.margin)
        return np.logaddexp(_logsumexp(t * cosines, axis=1), t * self.anchor)

    def confidences(self, scores: np.ndarray, vectors: np.ndarray | None) -> np.ndarray:
        """The confidence of frames with raw `scores` and stored `vectors` (rows); vectors are needed."""
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        if vectors is None or not len(scores):
            return np.zeros(len(scores), dtype=np.float32)
        background = self.background(normalize(vectors) @ self.bank.T)
        return 1.0 / (1.0 + np.exp(np.clip(background - self.temperature * scores, -60, 60)))

    def raw_floor(self, confidence: float) -> float:
        """A raw cosine below which no frame of the library sample reaches `confidence`."""
        c = min(max(confidence, 1e-6), 1 - 1e-6)
        if self.background_floor <= -1:
            return -1.0
        return float(self.background_floor + math.log(c / (1 - c)) / self.temperature - SLACK)


_CALIBRATIONS = PerQuery()


def bank_calibration(
    store: VectorStore, embedder: object, vector: np.ndarray, rivals: list[np.ndarray] | tuple = ()
) -> BankCalibration:
    """The query's calibration against its model's background bank (`vector`: the query's vector); `rivals`: other
    texts' vectors that join its background (a query and its negative terms compete for each frame). Kept per
    store, library version, bank and query (search/calibration.py's PerQuery)."""
    bank = bank_for(embedder)
    stamp = library_stamp(store)
    constants = (bank.key, bank.anchor, bank.exclude_similarity, bank.pooling, bank.margin)
    vectors = (np.asarray(v, dtype=np.float32).tobytes() for v in (vector, *rivals))
    key = (constants, *vectors)
    kept = _CALIBRATIONS.get(store, stamp, key)
    if isinstance(kept, BankCalibration):
        return kept
    calibration = _bank_calibration(store, bank, vector, rivals)
    _CALIBRATIONS.put(store, stamp, key, calibration)
    return calibration


def _bank_calibration(store: VectorStore, bank: Bank, vector: np.ndarray, rivals: list[np.ndarray] | tuple) -> BankCalibration:
    query = normalize(np.asarray(vector, dtype=np.float32).reshape(-1))
    if bank.vectors.shape[1] != query.shape[0]:
        raise ValueError("the background bank and the query come from different models")
    keep = (bank.vectors @ query < bank.exclude_similarity) | bank.null
    sample = sample_bank_scores(store, bank)
    rows = [bank.vectors[keep]] + [normalize(np.asarray(r, dtype=np.float32).reshape(1, -1)) for r in rivals]
    calibration = BankCalibration(query, np.concatenate(rows), bank.temperature, bank.anchor, -1.0, bank.pooling, bank.margin)
    if not len(sample):
        return calibration
    floor = float(calibration.background(sample[:, keep]).min() / bank.temperature)
    return dataclasses.replace(calibration, background_floor=floor)
