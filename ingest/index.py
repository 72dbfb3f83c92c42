"""Write one video's frame points to the store as one run that becomes searchable all at once.

The write protocol is the store's (`store.run()`, store/writes.py): the disk is checked for the frames
(estimated from the input) and the video claimed (VideoBusy if another write to it is in progress); the
frame points are written tagged with the run (invisible: the old version stays searchable); the record naming
the run commits them in one step; the run's end sweeps the old version. A failure before the commit rolls the
run back; a crash leaves it to the next open or a store check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain
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
    store: VectorStore,
    video: VideoRecord,
    batches: Iterable[Sequence[FramePoint]],
    model_path: str | None = None,
    *,
    dim: int | None = None,
    expected_frames: int | None = None,
) -> VideoRecord:
    """Index the batches of frames of `video` as one run and commit it.

    With `dim` known up front the video is claimed before the first batch is made (a conflicting
    write fails at once, not after the frames are embedded); `expected_frames` sizes the disk check."""
    check_video_id(video.video_id)
    pending = (batch for batch in batches if batch)
    first = None if dim else next(pending, None)
    if first is not None:
        dim = int(first[0].vector.shape[-1])
    if not dim:
        raise InvalidInput(f"video {video.video_id!r}: no frames to index")
    store.ensure_collection(video.model, dim, model_path)
    last_time = 0.0
    with store.run(video.video_id, frames=expected_frames or 0, dim=dim) as run:
        for batch in chain([first] if first else [], pending):
            run.write(batch)
            last_time = max(last_time, max(f.timestamp for f in batch))
        if run.frames == 0:
            raise InvalidInput(f"video {video.video_id!r}: no frames to index")
        record = video.model_copy(
            update={
                "frames": run.frames,
                "duration": video.duration if video.duration is not None else last_time,
                "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "ingest_run": run.id,
            }
        )
        store.ensure_space(0, 1, f"video {video.video_id!r}")  # the disk may have filled since (another process)
        run.commit(record)
    return record


def results_points(parsed: ParsedResults, video_id: str, *, fps: float | None, model: str, source: str) -> list[FramePoint]:
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
    return index_frames(store, record, batches, model_path=model_path, dim=parsed.dim, expected_frames=len(points))
