"""Search results for other tools: CSV (one row per result), WebVTT (one cue per result, in time order) and CMX3600
EDL (one event per result); a sequence (`then`) gives a row, cue or event for each of its two parts.

Written by hand: each format is a few lines of text, and the EDL's frame-accurate timecodes need the video's
own frame rate (from its record), which no general library knows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from framesearch.search.edges import video_records
from framesearch.search.models import FrameMatch, SearchResponse, SequenceMatch
from framesearch.store.base import VectorStore
from framesearch.store.schema import VideoRecord

CSV_HEADER = ("video_id", "start", "end", "score", "confidence", "peak_time", "rank", "part")
MEDIA_TYPES = {"csv": "text/csv", "vtt": "text/vtt", "edl": "text/plain", "json": "application/json"}
DEFAULT_FRAME_RATE = 25.0
REEL_CHARS = 8  # CMX3600's reel field


@dataclass(frozen=True)
class Row:
    """One time range to export: a moment, a frame, or one part (`first` or `then`) of a sequence; `rank` is its
    result's place in the answer (1 = best), shared by both parts of a sequence."""

    video_id: str
    start: float
    end: float
    score: float
    confidence: float | None
    peak_time: float
    rank: int = 1
    part: str = ""


def rows(response: SearchResponse, records: dict[str, VideoRecord | None]) -> list[Row]:
    """One row per result in rank order, two per sequence (its parts); a frame lasts one frame of its video."""
    out = []
    for rank, r in enumerate(response.results, 1):
        if isinstance(r, FrameMatch):
            rate = frame_rate(records.get(r.video_id))
            end = round(r.timestamp + 1 / rate, 4)
            out.append(Row(r.video_id, r.timestamp, end, r.score, r.confidence, r.timestamp, rank))
        elif isinstance(r, SequenceMatch):
            for part, s in (("first", r.first), ("then", r.then)):
                out.append(Row(s.video_id, s.start, s.end, s.score, s.confidence, s.peak_time, rank, part))
        else:
            out.append(Row(r.video_id, r.start, r.end, r.score, r.confidence, r.peak_time, rank))
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
        confidence = "" if r.confidence is None else r.confidence
        writer.writerow([r.video_id, r.start, r.end, r.score, confidence, r.peak_time, r.rank, r.part])
    return buffer.getvalue()


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _vtt_text(text: str) -> str:
    """Cue text: no cue-timing arrow, no blank line, no markup characters."""
    return text.replace("-->", "->").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(items: list[Row], query: str | None, then: str | None = None) -> str:
    """WebVTT cues in time order (as players need them); each names its video and its result's rank. A track
    for one video says which in a NOTE; with several videos (a library-wide search), every cue names its video:
    search one video (`video_id`) for a track to load beside it."""
    videos = sorted({r.video_id for r in items})
    lines = ["WEBVTT", ""]
    if len(videos) == 1:
        lines += [f"NOTE video: {_vtt_text(videos[0])}", ""]
    elif videos:
        lines += [f"NOTE {len(videos)} videos: each cue names its own", ""]
    for r in sorted(items, key=lambda r: (r.start, r.end, r.video_id, r.rank)):
        what = {"first": query, "then": then}.get(r.part, query) or "match"
        part = f" ({r.part})" if r.part else ""
        confidence = "" if r.confidence is None else f", confidence {r.confidence:.2f}"
        ident = f"{r.rank}{'-' + r.part if r.part else ''} {r.video_id}".replace("-->", "->")
        text = f"{r.video_id}: #{r.rank}{part} {what} (score {r.score:.3f}{confidence})"
        lines += [ident, f"{_vtt_time(r.start)} --> {_vtt_time(max(r.end, r.start + 0.001))}", _vtt_text(text), ""]
    return "\n".join(lines)


def timecode(frames: int, rate: float) -> str:
    """HH:MM:SS:FF, non-drop-frame, at the nominal (rounded) rate."""
    base = max(1, round(rate))
    return f"{frames // (3600 * base):02d}:{frames // (60 * base) % 60:02d}:{frames // base % 60:02d}:{frames % base:02d}"


def reel_names(video_ids: Iterable[str]) -> dict[str, str]:
    """A CMX3600 reel name (at most 8 letters, digits or _) for each video, distinct within one list: the file
    name's stem, upper case, cut to 8, with a number in its last characters where two would clash."""
    names: dict[str, str] = {}
    for video_id in dict.fromkeys(video_ids):
        stem = PurePosixPath(video_id.replace("\\", "/")).stem or video_id
        base = re.sub(r"[^A-Za-z0-9_]", "", stem).upper()[:REEL_CHARS] or "REEL"
        name, n = base, 1
        while name in names.values():
            suffix = str(n)
            name, n = base[: REEL_CHARS - len(suffix)] + suffix, n + 1
        names[video_id] = name
    return names


def reel(video_id: str) -> str:
    """One video's reel name (see reel_names)."""
    return reel_names([video_id])[video_id]


def to_edl(items: list[Row], records: dict[str, VideoRecord | None], query: str | None) -> str:
    """CMX3600: one cut event per result (two per sequence), source timecodes at each video's rate, laid end to end
    on the record side. Reels are at most 8 characters; each event names its video in full in comments."""
    record_rate = frame_rate(records.get(items[0].video_id)) if items else DEFAULT_FRAME_RATE
    title = re.sub(r"[\r\n]+", " ", f"framesearch {query or 'results'}")[:70]
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    reels = reel_names(r.video_id for r in items)
    position = 0
    for n, r in enumerate(items, 1):
        rate = frame_rate(records.get(r.video_id))
        first, last = round(r.start * rate), max(round(r.end * rate), round(r.start * rate) + 1)
        length = round((last - first) / rate * record_rate) or 1
        lines.append(
            f"{n:03d}  {reels[r.video_id]:<{REEL_CHARS}} V     C        {timecode(first, rate)} {timecode(last, rate)} "
            f"{timecode(position, record_rate)} {timecode(position + length, record_rate)}"
        )
        confidence = "" if r.confidence is None else f" confidence {r.confidence:.2f}"
        part = f" {r.part}" if r.part else ""
        lines += [
            f"* FROM CLIP NAME: {r.video_id}",
            f"* SOURCE FILE: {r.video_id}",
            f"* COMMENT: result {r.rank}{part} score {r.score:.3f}{confidence}",
            "",
        ]
        position += length
    return "\n".join(lines)


def export(store: VectorStore, response: SearchResponse, fmt: str, then: str | None = None) -> str:
    """The response as CSV, WebVTT or EDL text (`then`: a sequence search's second text, for VTT cues)."""
    records = video_records(store, {r.video_id for r in response.results}) if fmt in ("csv", "vtt", "edl") else {}
    items = rows(response, records)
    if fmt == "csv":
        return to_csv(items)
    if fmt == "vtt":
        return to_vtt(items, response.query, then)
    if fmt == "edl":
        return to_edl(items, records, response.query)
    return response.model_dump_json(indent=2)
