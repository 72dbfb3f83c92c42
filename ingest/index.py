"""Write one video's frame points to the store as one run that becomes searchable all at once.

The commit protocol (store/runs.py has the store's side):
1. check the disk can take the frames (estimated from the input), claim the video (VideoBusy if another
   write to it is in progress) and announce the run;
2. write the frame points, tagged with the run (invisible to searches; the old version stays searchable);
3. commit: write the video's record naming the run, so searches switch to the new version in one step;
4. finish: sweep the old version's points and the run's marker. A failure here is logged, not raised:
   the write is committed, and the next open or a store check finishes it.
A failure before the commit rolls the run back; a crash leaves it to the next open or a store check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.errors import FrameSearchError, InvalidInput
from framesearch.ingest.results import ParsedResults
from framesearch.store.base import VectorStore
from framesearch.store.schema import FramePoint, VideoRecord
from framesearch.validation import check_video_id

BATCH = 256
log = logging.getLogger(__name__)


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
    """Index the batches of frames of `video` as one run and commit it (the protocol above).

    With `dim` known up front the video is claimed before the first batch is made (a conflicting
    write fails at once, not after the frames are embedded); `expected_frames` sizes the disk check."""
    check_video_id(video.video_id)
    what = f"indexing video {video.video_id!r}"
    run: str | None = None
    count, last_time = 0, 0.0

    def begin(dim: int) -> str:
        store.ensure_collection(video.model, dim, model_path)
        store.ensure_space(expected_frames or 0, dim, what)
        return store.begin_run(video.video_id)

    try:
        if dim:
            run = begin(dim)
        for batch in batches:
            if not batch:
                continue
            batch_dim = int(batch[0].vector.shape[-1])
            run = run or begin(batch_dim)
            store.ensure_space(len(batch), batch_dim, what)
            store.heartbeat(video.video_id, run)
            store.upsert_frames(batch, run)
            count += len(batch)
            last_time = max(last_time, max(f.timestamp for f in batch))
        if count == 0 or run is None:
            raise InvalidInput(f"video {video.video_id!r}: no frames to index")
        record = video.model_copy(
            update={
                "frames": count,
                "duration": video.duration if video.duration is not None else last_time,
                "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "ingest_run": run,
            }
        )
        store.ensure_space(0, 1, what)  # the disk may have filled up since the last batch (another process)
        store.commit_run(record)
    except BaseException as exc:
        if run is not None:
            store.abandon_run(video.video_id, run, exc)
        raise
    store.finish_run_after_commit(video.video_id, run)
    try:
        store.checkpoint()  # an embedded store flushes every so often, and when closed (the log holds the updates)
    except FrameSearchError as exc:  # committed and in the write-ahead log: a slow reopen at worst
        log.warning("flush after indexing %r failed: %s", video.video_id, exc)
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
