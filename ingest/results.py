"""Parse and validate a Roboflow Video Inference results JSON (CLIP): frame offsets + one vector per frame.

The file holds equal-length lists: `frame_offset(s)`, `time_offset(s)` (seconds) and one list per model.
Each entry of the CLIP list is `{"embeddings": [[...]]}` (Roboflow's documented shape), `{"embeddings": [...]}`,
a bare vector `[...]` or `[[...]]` (what Roboflow's own sample code reads), or null for a failed frame.
An optional `framesearch` object (written by `framesearch infer`) names the model, the video and the fps.

Speed and memory: msgspec reads the document's structure without building its numbers (top-level values
and the CLIP entries stay raw byte spans of the file, which is memory-mapped), then decodes the entries in
batches, with msgspec checking every number's type in C, straight into one float32 array; the remaining
checks (finite, a usable length, one dimension) are numpy operations. No Python call per number. Pages of
the file already decoded are let go, so the peak is about the file's size, whatever the vectors need after.
(msgspec rather than ijson: its raw spans let whole batches decode in C at orjson's speed; ijson builds
every number through its event machinery, about 1.5x slower than a plain decode.)
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from framesearch.errors import ResultsFormatError
from framesearch.validation import MAX_SECONDS

FRAME_KEYS = ("frame_offset", "frame_offsets")
TIME_KEYS = ("time_offset", "time_offsets")
DEFAULT_MODEL_KEY = "clip"
META_KEY = "framesearch"
BATCH = 512  # entries decoded at once: big enough to amortise, small enough to stay in cache
MAX_FRAME = 2**53


class Embeddings(msgspec.Struct):
    """A dict entry of the CLIP list (other keys, e.g. Roboflow's `time`, are ignored)."""

    embeddings: list[float | list[float]] | None = None


MAX_NAME = 4096  # a model name or folder, a video name: longer is no name (and would be echoed in messages)
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]


class Meta(msgspec.Struct, forbid_unknown_fields=False):
    """What `framesearch infer` records beside the Roboflow lists."""

    model: Name | None = None
    video: Name | None = None
    fps: float | None = None


Entry = None | Embeddings | list[float | list[float]]
_ENTRIES = msgspec.json.Decoder(list[Entry])
_NUMBERS = msgspec.json.Decoder(list[float])
_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_META = msgspec.json.Decoder(Meta)
_PATH_INDEX = re.compile(r"at `\$\[(\d+)\]")


@dataclass(frozen=True)
class ParsedResults:
    """The usable frames of a results file, in time order."""

    frames: list[int]
    timestamps: list[float]
    vectors: np.ndarray
    skipped: int
    model_key: str
    derived_fps: float | None = None
    meta: Meta = field(default_factory=Meta)
    content_hash: str | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def sample_fps(self) -> float | None:
        """Sampling rate of the frames, derived from all time offsets (see `derive_fps`)."""
        return self.derived_fps

    def video_fps(self) -> float | None:
        """The source video's frame rate implied by frame numbers over times, when they allow it."""
        frames, times = np.asarray(self.frames, dtype=np.float64), np.asarray(self.timestamps)
        keep = (frames > 0) & (times > 0)
        return round(float(np.median(frames[keep] / times[keep])), 3) if keep.any() else None


def derive_fps(times: np.ndarray) -> float | None:
    """Frames per second of a sampled sequence: the median step finds the regular step (jitter and gaps do
    not move it); the rate is then the steps counted in units of it over the time they span."""
    gaps = np.diff(np.unique(times))
    if gaps.size == 0:
        return None
    step = float(np.median(gaps))
    steps = np.maximum(1.0, np.rint(gaps / step))
    fps = float(steps.sum() / gaps.sum())
    if not 0 < fps < math.inf:
        return None  # times too far apart for a rate (gaps beyond float range)
    nearest = round(fps)
    if nearest and abs(fps - nearest) <= 0.005 * fps:
        return float(nearest)
    return round(fps, 3) if fps >= 0.001 else float(f"{fps:.3g}")  # a slow rate keeps its significant digits


def _fail(where: str, message: str) -> ResultsFormatError:
    return ResultsFormatError(f"{where}: {message}")


def _decode(decoder: msgspec.json.Decoder, buf: Any, where: str, what: str) -> Any:
    """Decode with msgspec; malformed JSON and type mismatches become ResultsFormatError naming `what`."""
    try:
        return decoder.decode(buf)
    except msgspec.ValidationError as exc:
        raise _fail(where, f"{what}: {_plain(exc)}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _fail(where, f"not valid JSON: {_malformed(exc, buf)}") from None


def _plain(exc: Exception) -> str:
    """msgspec's message in plain words (its type names are JSON's)."""
    return str(exc).replace("`float`", "a number").replace("`array`", "a list").replace("`object`", "an object")[:200]


def _malformed(exc: Exception, buf: Any) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc)[:200]
    found = re.search(r"\(byte (\d+)\)", text)
    if found:
        at, view = int(found.group(1)), memoryview(buf)
        token = bytes(view[at : at + 9]) if at < len(view) else b""
        if token.lstrip(b"-").startswith((b"NaN", b"Infinity")):
            return f"a non-finite number at byte {at} (JSON numbers are finite)"
    return text


def _top(buf: Any, where: str) -> dict[str, msgspec.Raw]:
    try:
        return _TOP.decode(buf)
    except msgspec.ValidationError:
        kind = type(_decode(msgspec.json.Decoder(), buf, where, "document")).__name__
        raise _fail(where, f"expected a JSON object, got {kind}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _fail(where, f"not valid JSON: {_malformed(exc, buf)}") from None


def _offsets(top: dict[str, msgspec.Raw], keys: tuple[str, ...], where: str) -> np.ndarray:
    """One offsets list as float64; both spellings present must agree."""
    found = [k for k in keys if k in top]
    if not found:
        raise _fail(where, f"missing {' or '.join(repr(k) for k in keys)}")
    lists = []
    for key in found:
        try:
            values = _NUMBERS.decode(top[key])
        except msgspec.ValidationError as exc:
            at = _PATH_INDEX.search(str(exc))
            if at is None:
                raise _fail(where, f"{key!r} must be a list of numbers") from None
            raise _fail(where, f"{key} {at.group(1)} is not a number ({_plain(exc).split(' - ')[0]})") from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise _fail(where, f"{key!r}: not valid JSON: {_malformed(exc, top[key])}") from None
        lists.append(np.asarray(values, dtype=np.float64))
    if len(lists) == 2 and (lists[0].shape != lists[1].shape or not np.array_equal(lists[0], lists[1])):
        raise _fail(where, f"{found[0]!r} and {found[1]!r} are both given and disagree; keep one")
    return lists[0]


def _check_offsets(frames: np.ndarray, times: np.ndarray, where: str) -> None:
    bad = (frames < 0) | (frames > MAX_FRAME) | (frames != np.floor(frames))
    if bad.any():
        raise _fail(where, f"frame offset {int(np.argmax(bad))} is not a non-negative integer")
    bad = (times < 0) | (times > MAX_SECONDS)
    if bad.any():
        raise _fail(where, f"time offset {int(np.argmax(bad))} is not a non-negative number of seconds")


def _find_model_key(top: dict[str, msgspec.Raw], where: str) -> str:
    if DEFAULT_MODEL_KEY in top:
        return DEFAULT_MODEL_KEY
    for key, raw in top.items():
        if key in FRAME_KEYS + TIME_KEYS + (META_KEY,) or bytes(memoryview(raw)[:1]) != b"[":
            continue
        try:
            items = _RAW_LIST.decode(raw)
            first = next((msgspec.json.decode(i) for i in items if bytes(i) != b"null"), None)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(first, dict) and "embeddings" in first:
            return key
    raise _fail(where, "no CLIP list (a 'clip' key whose items hold 'embeddings' or vectors)")


def _entry_error(exc: msgspec.ValidationError, start: int, where: str) -> ResultsFormatError:
    """A msgspec error inside a batch of entries, as a message naming the frame."""
    text = str(exc)
    at = _PATH_INDEX.search(text)
    frame = start + int(at.group(1)) if at else start
    if "missing required field `embeddings`" in text:
        return _fail(where, f"frame {frame} has no 'embeddings'")
    if "out of range" in text:
        return _fail(where, f"frame {frame} has a non-finite or out-of-range value in its vector")
    if "got `array`" in text:
        return _fail(where, f"frame {frame}: the vector is nested too deeply (one vector per frame)")
    if "Expected `float | array`" in text or "Expected `float`" in text:
        return _fail(where, f"frame {frame} has a non-numeric value in its vector ({_plain(exc).split(' - ')[0]})")
    return _fail(where, f"frame {frame} is not a vector, an object with 'embeddings', or null ({_plain(exc).split(' - ')[0]})")


def _row(entry: Entry, index: int, where: str) -> list | None:
    """The one vector of an entry (None for a null frame)."""
    if entry is None:
        return None
    vector = entry.embeddings if isinstance(entry, Embeddings) else entry
    if vector is None:
        raise _fail(where, f"frame {index} has no 'embeddings'")
    first = vector[0] if vector else None
    if type(first) is list:
        if len(vector) > 1:
            raise _fail(where, f"frame {index} holds {len(vector)} vectors; one vector per frame is expected")
        vector = first
    if not vector:
        raise _fail(where, f"frame {index} 'embeddings' is not a non-empty vector")
    return vector


def _diagnose(rows: list[list], indices: list[int], dim: int | None, where: str) -> ResultsFormatError:
    """Why a batch of rows is not one rectangular array of numbers (the slow path, on failure only)."""
    for row, index in zip(rows, indices, strict=True):
        if any(type(x) is list for x in row):
            return _fail(where, f"frame {index} mixes numbers and lists; one flat vector per frame is expected")
        if dim is None:
            dim = len(row)
        if len(row) != dim:
            return _fail(where, f"vectors differ in dimension (frame {index} has {len(row)}, earlier ones {dim})")
    return _fail(where, "vectors are not one table of numbers")


def _vectors(items: list[msgspec.Raw], where: str, release: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """All entries decoded batch by batch into a float32 table; returns (table of the non-null rows, present mask)."""
    n = len(items)
    present = np.zeros(n, dtype=bool)
    table: np.ndarray | None = None
    filled = 0
    for start in range(0, n, BATCH):
        batch = items[start : start + BATCH]
        try:
            entries = _ENTRIES.decode(b"[" + b",".join(batch) + b"]")
        except msgspec.ValidationError as exc:
            raise _entry_error(exc, start, where) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise _fail(where, f"not valid JSON: {_malformed(exc, b'')}") from None
        rows, indices = [], []
        for offset, entry in enumerate(entries):
            row = _row(entry, start + offset, where)
            if row is not None:
                rows.append(row)
                indices.append(start + offset)
        if not rows:
            continue
        dim = None if table is None else table.shape[1]
        try:
            with np.errstate(over="ignore"):  # values beyond float32 become inf, refused just below
                block = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError):
            raise _diagnose(rows, indices, dim, where) from None
        if block.ndim != 2 or (dim is not None and block.shape[1] != dim):
            raise _diagnose(rows, indices, dim, where)
        _check_block(block, indices, where)
        if table is None:
            table = np.empty((n - start, block.shape[1]), dtype=np.float32)
            filled = 0
        table[filled : filled + len(block)] = block
        filled += len(block)
        present[indices] = True
        if release is not None:
            release(items, start + len(batch))
    if table is None:
        raise _fail(where, "every frame is null; nothing to index")
    return table[:filled], present


def _check_block(block: np.ndarray, indices: list[int], where: str) -> None:
    """Finite values, and a length the store can normalise (as it does, in float32)."""
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        raise _fail(where, f"frame {indices[int(np.argmin(finite))]}: a value overflows float32 (non-finite)")
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(block, axis=1)
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        frame = indices[int(np.argmax(bad))]
        what = "all zeros" if not block[int(np.argmax(bad))].any() else "too small or too large to normalise"
        raise _fail(where, f"frame {frame}: the vector is {what}")


def _meta(top: dict[str, msgspec.Raw], where: str) -> Meta:
    if META_KEY not in top:
        return Meta()
    return _decode(_META, top[META_KEY], where, f"{META_KEY!r} (model, video, fps)")


def parse_buffer(buf: Any, where: str = "results", model_key: str | None = None, release: Any = None) -> ParsedResults:
    """Validate a results JSON held in a buffer (bytes or a memory map); `where` names it in errors.
    `release(position)` is told how far the entries have been read (so a mapped file's pages can be let go)."""
    top = _top(buf, where)
    frames = _offsets(top, FRAME_KEYS, where)
    times = _offsets(top, TIME_KEYS, where)
    meta = _meta(top, where)
    key = model_key or _find_model_key(top, where)
    if key not in top:
        raise _fail(where, f"no list {key!r}")
    try:
        items = _RAW_LIST.decode(top[key])
    except msgspec.ValidationError:
        raise _fail(where, f"{key!r} must be a list") from None
    del top
    if not (len(frames) == len(times) == len(items)):
        raise _fail(where, f"lists differ in length (frames {len(frames)}, times {len(times)}, {key} {len(items)})")
    if not items:
        raise _fail(where, "no frames")
    _check_offsets(frames, times, where)
    vectors, present = _vectors(items, where, release)
    del items
    return _assemble(frames, times, vectors, present, key, meta, where)


def content_digest(frames: np.ndarray, times: np.ndarray, vectors: np.ndarray) -> str:
    """SHA-256 of what a results file holds (frames, times, vectors), whatever its spelling or layout: the same
    results uploaded twice, or once as a file and once as an upload, have the same digest."""
    digest = hashlib.sha256()
    for part in (frames.astype("<i8"), times.astype("<f8"), np.ascontiguousarray(vectors, dtype="<f4")):
        digest.update(part.tobytes())
    return digest.hexdigest()


def _assemble(frames, times, vectors, present, key, meta, where) -> ParsedResults:
    kept_frames, kept_times = frames[present], times[present]
    if np.unique(kept_frames).size != kept_frames.size:
        raise _fail(where, "a frame offset appears twice")
    if kept_times.size > 1 and np.any(np.diff(kept_times) < 0):
        order = np.argsort(kept_times, kind="stable")
        kept_frames, kept_times, vectors = kept_frames[order], kept_times[order], vectors[order]
    return ParsedResults(
        frames=kept_frames.astype(np.int64).tolist(),
        timestamps=kept_times.tolist(),
        vectors=vectors,
        skipped=int((~present).sum()),
        model_key=key,
        derived_fps=derive_fps(times),
        meta=meta,
        content_hash=content_digest(kept_frames, kept_times, vectors),
    )


def parse_results(data: Any, where: str = "results", model_key: str | None = None) -> ParsedResults:
    """Validate an already decoded JSON value (it is re-encoded and read like a file)."""
    import json

    try:
        raw = json.dumps(data, allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise _fail(where, f"not JSON data ({type(exc).__name__})") from None
    return parse_buffer(raw, where=where, model_key=model_key)


def parse_results_bytes(raw: bytes, where: str = "results", model_key: str | None = None) -> ParsedResults:
    """Decode and validate a results JSON held in memory (an upload)."""
    return parse_buffer(raw, where=where, model_key=model_key)


def load_results_file(path: Path, model_key: str | None = None) -> ParsedResults:
    """Read and validate a results file, memory-mapped (pages already read are let go); errors name the file."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ResultsFormatError(f"{path}: cannot read: {exc}") from None
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ResultsFormatError(f"{path}: the file is empty")
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ResultsFormatError(f"{path}: cannot read: {exc}") from None
    return _parse_mapped(mapped, str(path), model_key)


def _parse_mapped(mapped: mmap.mmap, where: str, model_key: str | None) -> ParsedResults:
    base = np.frombuffer(mapped, dtype=np.uint8).ctypes.data

    def release(items: list[msgspec.Raw], done: int) -> None:
        """Let go of the pages of the entries read so far (they are not needed again)."""
        end = len(mapped) if done >= len(items) else (_address(items[done]) - base) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > 0 and hasattr(mmap, "MADV_DONTNEED"):
            mapped.madvise(mmap.MADV_DONTNEED, 0, end)

    try:
        return parse_buffer(mapped, where=where, model_key=model_key, release=release)
    except BaseException as exc:
        traceback.clear_frames(exc.__traceback__)  # its frames hold spans of the map
        raise
    finally:
        try:
            mapped.close()
        except BufferError:  # still referenced somewhere: unmapped when freed
            pass


def _address(raw: msgspec.Raw) -> int:
    """Where a raw span lives in memory (msgspec keeps spans as views of its input, here the mapped file)."""
    return np.frombuffer(raw, dtype=np.uint8).ctypes.data


def to_results_json(
    frames: list[int], timestamps: list[float], vectors: np.ndarray, model_key: str = "clip", meta: dict | None = None
) -> dict:
    """The Roboflow results format for locally computed vectors (so both sources are interchangeable)."""
    doc: dict[str, Any] = {
        "frame_offset": [int(f) for f in frames],
        "time_offset": [round(float(t), 4) for t in timestamps],
        model_key: [{"embeddings": [row]} for row in np.asarray(vectors, dtype=np.float32).tolist()],
    }
    if meta:
        doc[META_KEY] = {k: v for k, v in meta.items() if v is not None}
    return doc
