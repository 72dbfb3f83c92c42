"""Write one video's frame points to the store, idempotently and without half-written states.

Every ingest run tags its points; only after all of them are written are the video's older points
(from a previous run) swept and the video's record written. A crash midway leaves the previous
version searchable, and a re-run converges on the same point ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.errors import InvalidInput
from framesearch.ingest.results import ParsedResults
from framesearch.store.base import VectorStore
from framesearch.store.schema import FramePoint, VideoRecord
from framesearch.validation import check_video_id

BATCH = 256


class IngestReport(BaseModel):
    """What indexing one video did (or would do, in a dry run): its id, frames written, null frames skipped,
    its library record, and what the ingest decided or noticed on the way (notes, warnings)."""

    video_id: str
    frames: int
    skipped: int
    video: VideoRecord
    dry_run: bool = False
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, record: VideoRecord, **more: Any) -> IngestReport:
        return cls(video_id=record.video_id, frames=record.frames, skipped=record.skipped_frames, video=record, **more)


def index_frames(
    store: VectorStore, video: VideoRecord, batches: Iterable[Sequence[FramePoint]], model_path: str | None = None
) -> VideoRecord:
    """Upsert the batches of frames of `video`, then sweep stale points and write the record."""
    check_video_id(video.video_id)
    run = uuid.uuid4().hex
    count = 0
    last_time = 0.0
    for batch in batches:
        if not batch:
            continue
        store.ensure_collection(batch[0].model, int(batch[0].vector.shape[-1]), model_path)
        store.upsert_frames(batch, run)
        count += len(batch)
        last_time = max(last_time, max(f.timestamp for f in batch))
    if count == 0:
        raise InvalidInput(f"video {video.video_id!r}: no frames to index")
    store.sweep_stale(video.video_id, run)
    record = video.model_copy(
        update={
            "frames": count,
            "duration": video.duration if video.duration is not None else last_time,
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    store.put_video(record)
    store.flush()
    return record


def results_points(
    parsed: ParsedResults, video_id: str, *, fps: float | None, model: str, source: str
) -> list[FramePoint]:
    """Frame points of a parsed results file."""
    return [
        FramePoint(video_id, frame, time, vector, fps, model, source)
        for frame, time, vector in zip(parsed.frames, parsed.timestamps, parsed.vectors, strict=False)
    ]


def ingest_results(
    store: VectorStore,
    parsed: ParsedResults,
    video_id: str,
    *,
    fps: float | None = None,
    model: str = ROBOFLOW_CLIP_MODEL,
    source: str = "results",
    path: str | None = None,
    extra: dict | None = None,
    model_path: str | None = None,
    content_hash: str | None = None,
) -> VideoRecord:
    """Index an already validated results file as video `video_id`."""
    check_video_id(video_id)
    fps = fps or parsed.sample_fps()
    points = results_points(parsed, video_id, fps=fps, model=model, source=source)
    record = VideoRecord(
        video_id=video_id,
        model=model,
        source=source,
        frames=0,
        fps=fps,
        path=path,
        content_hash=content_hash,
        skipped_frames=parsed.skipped,
        extra={"video_fps": parsed.video_fps(), **(extra or {})},
    )
    batches = (points[i : i + BATCH] for i in range(0, len(points), BATCH))
    return index_frames(store, record, batches, model_path=model_path)
