"""Library jobs: the service indexes files and folders on its own disk, as `framesearch ingest local` does.

A CLI that finds a running service sends its `ingest local` here (the service holds the store), and a watched
folder sends the videos that appeared in it. The job runs the library ingest itself (ingest/library.py), so
ids, skips and failures are the CLI's, and reports each video's outcome. The paths name this machine's files:
only loopback clients may send them (the service's own CLI and watcher).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framesearch.errors import FrameSearchError, InvalidInput, ModelError, NoImageModel
from framesearch.ingest.library import LibraryItem, Outcome, gone_from, ingest_library, library_items, prune_missing
from framesearch.validation import DEFAULT_FPS, Fps, VideoId

MAX_INPUTS = 10_000


class LibraryJobRequest(BaseModel):
    """Index video files and folders that are on the service's machine (absolute paths)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(min_length=1, max_length=MAX_INPUTS, description="Absolute paths of video files and folders.")
    recursive: bool = Field(False, description="Descend into sub-folders.")
    force: bool = Field(False, description="Re-index videos already indexed.")
    prune: bool = Field(False, description="Remove the videos of the folders given whose files are gone (else report them).")
    fps: Fps = DEFAULT_FPS
    video_id: VideoId | None = Field(None, description="Id for a single video (default: its file name).")
    model: str | None = Field(None, min_length=1, max_length=1000, description="Model for a library that has none yet.")
    only: list[str] | None = Field(
        None, max_length=MAX_INPUTS, description="Only these files of the inputs (what changed in a watched folder)."
    )

    def items(self) -> list[LibraryItem]:
        """The videos the request names, with their ids, by the CLI's rule (InvalidInput for a missing path)."""
        paths = [Path(p) for p in self.inputs]
        relative = [p for p in paths if not p.is_absolute()]
        if relative:
            raise InvalidInput(f"{relative[0]}: a library job needs absolute paths")
        found = library_items(paths, self.recursive, self.video_id)
        if self.only is None:
            return found
        wanted = {str(Path(p)) for p in self.only}
        return [item for item in found if str(item.path) in wanted]

    def label(self) -> str:
        """What the job is called in lists: the input's name, or how many inputs."""
        names = [Path(p).name or p for p in self.inputs]
        return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


def run_library(
    store: Any,
    items: list[LibraryItem],
    req: LibraryJobRequest,
    *,
    embedder: Any,
    batch_size: int,
    report: Callable[[dict[str, Any]], None],
) -> list[Outcome]:
    """Index `items` (skipping what is indexed unless `force`); `report` gets the progress: the video being
    indexed, its frames done and expected, and how many videos the job has."""

    def progress_for(item: LibraryItem) -> Callable[[int, int | None], None]:
        def update(frames: int, total: int | None) -> None:
            report({"video": item.video_id, "frames": frames, "total": total, "videos": len(items)})

        update(0, None)
        return update

    report({"videos": len(items)})
    outcomes = ingest_library(
        store, items, embedder=embedder, fps=req.fps, force=req.force, progress_for=progress_for, batch_size=batch_size
    )
    if req.only is None:  # the whole folders: what is gone from them is reported, or removed with `prune`
        outcomes += prune_missing(store, gone_from(store, [Path(p) for p in req.inputs], req.recursive), remove=req.prune)
    return outcomes


# The library jobs of the service's job manager (`manager`: service/jobs.py's JobManager, which persists, lists and
# schedules them; typed Any here, since that module imports this one).


def submit_library(manager: Any, req: LibraryJobRequest) -> Any:
    """Queue a library job; its paths and model are checked now (InvalidInput, NoImageModel), not once it runs."""
    from framesearch.service.jobs import JobRecord

    items = req.items()
    library_embedder(manager, req.model)
    job_id, _ = manager.new_folder()
    fields = {"job_id": job_id, "kind": "library", "provider": "local", "video_id": req.label(), "fps": req.fps}
    record = JobRecord.model_validate({**fields, "source": "library", "library": req})
    record.progress = {"videos": len(items)}
    with manager._lock:
        manager._jobs[job_id] = record
        manager._save(record)
        queued = record.public()
    manager._schedule(record)
    return queued


def library_embedder(manager: Any, model: str | None) -> Any:
    """The image model of a library job: the service's, or the one it names for a library without a model yet."""
    if model is None or model == manager.settings.model:
        manager._check_image_model()
        return manager._load_image_embedder()
    from framesearch.embedders.resolve import image_embedder

    try:
        recorded: Any = manager.store.info()
        return image_embedder(manager.settings.model_copy(update={"model": model}), recorded)
    except ModelError as exc:
        raise NoImageModel(f"this service cannot index videos with {model!r}: {exc}") from None


def run_library_job(manager: Any, record: Any) -> None:
    """Run a library job to its end: done with each video's outcome (failed when every video failed), or failed with
    the reason; a stopping service leaves it active on disk, resumed on the next start."""
    from framesearch.ingest.roboflow_api import Interrupted
    from framesearch.ingest.stages import Stage
    from framesearch.service.jobs import _now as now
    from framesearch.service.jobs import log

    def report(progress: dict[str, Any]) -> None:
        if manager._stop.is_set():
            raise Interrupted()
        manager._update(record, persist=False, stage=Stage.EMBEDDING, progress=progress)

    assert record.library is not None
    req = record.library
    try:
        embedder = library_embedder(manager, req.model)
        items = req.items()
        with manager._ingest_lock:
            outcomes = run_library(
                manager.store, items, req, embedder=embedder, batch_size=manager.settings.embed_batch, report=report
            )
    except Interrupted:
        return
    except Exception as exc:  # a bug must fail the job visibly, not kill the worker silently
        if not isinstance(exc, FrameSearchError):
            log.exception("job %s crashed", record.job_id)
        code = exc.code if isinstance(exc, FrameSearchError) else "InternalError"
        manager._update(record, status="failed", stage=None, error=manager._clean(str(exc)), error_code=code, finished_at=now())
        return
    frames = sum(o.frames for o in outcomes if o.status == "indexed")
    failed = [o for o in outcomes if o.status == "failed"]
    status = "failed" if failed and len(failed) == len(outcomes) else "done"
    error = f"{len(failed)} of {len(outcomes)} videos failed" if failed else None
    manager._update(
        record, status=status, stage=None, outcomes=outcomes, frames=frames, skipped=0, error=error, finished_at=now()
    )
    if frames and manager._after_ingest is not None:
        manager._after_ingest()
