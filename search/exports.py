"""Search results for other tools: CSV, WebVTT (one cue per result) and CMX3600 EDL (one event per result).

Written by hand: each format is a few lines of text, and the EDL's frame-accurate timecodes need the video's
own frame rate (from its record), which no general library knows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from framesearch.search.edges import video_records
from framesearch.search.models import FrameMatch, SearchResponse
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord

CSV_HEADER = ("video_id", "start", "end", "score", "confidence", "peak_time")
MEDIA_TYPES = {"csv": "text/csv", "vtt": "text/vtt", "edl": "text/plain", "json": "application/json"}
DEFAULT_FRAME_RATE = 25.0


@dataclass(frozen=True)
class Row:
    video_id: str
    start: float
    end: float
    score: float
    confidence: float | None
    peak_time: float


def rows(response: SearchResponse, records: dict[str, VideoRecord | None]) -> list[Row]:
    """One row per result; a frame (frames mode) lasts one frame of its video."""
    out = []
    for r in response.results:
        if isinstance(r, FrameMatch):
            rate = frame_rate(records.get(r.video_id))
            out.append(Row(r.video_id, r.timestamp, round(r.timestamp + 1 / rate, 4), r.score, r.confidence, r.timestamp))
        else:
            out.append(Row(r.video_id, r.start, r.end, r.score, r.confidence, r.peak_time))
    return out


def frame_rate(record: VideoRecord | None) -> float:
    """The video's own frame rate (for timecodes), from its record; 25 when unknown."""
    rate = (record.extra or {}).get("video_fps") if record is not None else None
    return float(rate) if isinstance(rate, (int, float)) and rate > 0 else DEFAULT_FRAME_RATE


def to_csv(items: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in items:
        writer.writerow([r.video_id, r.start, r.end, r.score, "" if r.confidence is None else r.confidence, r.peak_time])
    return buffer.getvalue()


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def to_vtt(items: list[Row], query: str | None) -> str:
    lines = ["WEBVTT", ""]
    for n, r in enumerate(items, 1):
        confidence = "" if r.confidence is None else f", confidence {r.confidence:.2f}"
        text = f"{r.video_id}: {query or 'match'} (score {r.score:.3f}{confidence})".replace("-->", "->")
        lines += [str(n), f"{_vtt_time(r.start)} --> {_vtt_time(max(r.end, r.start + 0.001))}", text, ""]
    return "\n".join(lines)


def timecode(frames: int, rate: float) -> str:
    """HH:MM:SS:FF, non-drop-frame, at the nominal (rounded) rate."""
    base = max(1, round(rate))
    return f"{frames // (3600 * base):02d}:{frames // (60 * base) % 60:02d}:{frames // base % 60:02d}:{frames % base:02d}"


def reel(video_id: str) -> str:
    """The video id as a reel name: no spaces (EDL fields are space-separated)."""
    return re.sub(r"\s+", "_", video_id)


def to_edl(items: list[Row], records: dict[str, VideoRecord | None], query: str | None) -> str:
    """CMX3600: one cut event per result, source timecodes at each video's rate, laid end to end on the record."""
    record_rate = frame_rate(records.get(items[0].video_id)) if items else DEFAULT_FRAME_RATE
    title = re.sub(r"[\r\n]+", " ", f"framesearch {query or 'results'}")[:70]
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    position = 0
    for n, r in enumerate(items, 1):
        rate = frame_rate(records.get(r.video_id))
        first, last = round(r.start * rate), max(round(r.end * rate), round(r.start * rate) + 1)
        length = round((last - first) / rate * record_rate) or 1
        lines.append(
            f"{n:03d}  {reel(r.video_id)}  V     C        {timecode(first, rate)} {timecode(last, rate)} "
            f"{timecode(position, record_rate)} {timecode(position + length, record_rate)}"
        )
        lines += [
            f"* FROM CLIP NAME: {r.video_id}",
            f"* COMMENT: score {r.score:.3f}" + ("" if r.confidence is None else f" confidence {r.confidence:.2f}"),
            "",
        ]
        position += length
    return "\n".join(lines)


def export(store: VectorStore, response: SearchResponse, fmt: str) -> str:
    """The response as CSV, WebVTT or EDL text."""
    records = video_records(store, {r.video_id for r in response.results}) if fmt in ("csv", "vtt", "edl") else {}
    items = rows(response, records)
    if fmt == "csv":
        return to_csv(items)
    if fmt == "vtt":
        return to_vtt(items, response.query)
    if fmt == "edl":
        return to_edl(items, records, response.query)
    return response.model_dump_json(indent=2)
