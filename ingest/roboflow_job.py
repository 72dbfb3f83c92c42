"""One video through Roboflow's Video Inference, end to end: upload (or URL), job, poll, save, index.

The raw results JSON is written to `<results dir>/<job_id>.json` before anything is indexed, and
every submitted job is listed in `pending.json` there until it is indexed, so neither a crash nor a
timeout loses what was paid for: `framesearch ingest roboflow --job-id ID` picks the job up again.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.errors import InvalidInput, ModelMismatch
from framesearch.files import write_atomic
from framesearch.ingest.ids import is_url, source_video_id
from framesearch.ingest.index import IngestReport, ingest_results
from framesearch.ingest.results import load_results_file
from framesearch.ingest.roboflow_api import PollPolicy, RoboflowVideoAPI, wait_for_job
from framesearch.ingest.stages import OnStage, Stage, no_stage
from framesearch.settings import Settings
from framesearch.store.base import VectorStore

RESULTS_DIR = "roboflow-results"
PENDING = "pending.json"
SOURCE = "roboflow"


@dataclass(frozen=True)
class VideoJob:
    """A video to run (or being run) at Roboflow: a local file or an http(s) URL, and its job id once submitted.

    `path` is the video file on this machine that the library record names (for playback), or None; it is
    never derived from `source` here, which may be a name a client sent (see `local_file`)."""

    source: str
    video_id: str
    fps: float
    job_id: str | None = None
    path: str | None = None


class RoboflowReport(IngestReport):
    """A video indexed from a Roboflow job, and where its raw results are kept."""

    job_id: str
    results_path: str


def default_video_id(source: str) -> str:
    """A file's name, or a URL's last path segment (the whole URL if it has none), by the library id rule."""
    return source_video_id(source)


def local_file(source: str) -> str | None:
    """The absolute path of a local video file named by a trusted caller (the CLI's user), else None."""
    if is_url(source) or not Path(source).is_file():
        return None
    return str(Path(source).resolve())


def results_dir(settings: Settings) -> Path:
    """Where raw results and the pending-jobs list live: beside the store (the work dir for a Qdrant server)."""
    return (settings.work_dir if settings.qdrant_url else settings.store) / RESULTS_DIR


def results_path(root: Path, job_id: str) -> Path:
    return root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', job_id)}.json"


def _update_pending(root: Path, change: Callable[[dict[str, dict]], object]) -> dict[str, dict]:
    """Read-modify-write `pending.json` under a file lock (jobs run in threads and processes)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / (PENDING + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pending = read_pending(root)
        change(pending)
        write_atomic(root / PENDING, json.dumps(pending, indent=2, sort_keys=True).encode())
    return pending


def read_pending(root: Path) -> dict[str, dict]:
    """Submitted jobs not yet indexed, by job id."""
    try:
        data = json.loads((root / PENDING).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(root: Path, job: VideoJob, owner: str | None = None) -> None:
    """List a submitted job as pending; `owner` names who submitted it (a service job id), if anyone."""
    job_id = job.job_id
    if job_id is None:
        raise ValueError(f"the job of {job.video_id!r} is not submitted: it has no job id to remember")
    entry = {
        "video_id": job.video_id,
        "source": job.source,
        "fps": job.fps,
        "submitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if job.path:
        entry["path"] = job.path
    if owner:
        entry["owner"] = owner
    _update_pending(root, lambda pending: pending.__setitem__(job_id, entry))


def forget(root: Path, job_id: str) -> None:
    _update_pending(root, lambda pending: pending.pop(job_id, None))


def resumed_job(root: Path, job_id: str, *, source: str | None, video_id: str | None, fps: float) -> VideoJob:
    """The job to resume: what the pending list recorded, overridden by what the caller names."""
    entry = read_pending(root).get(job_id, {})
    path = local_file(source) if source else entry.get("path")
    source = source or entry.get("source")
    video_id = video_id or entry.get("video_id") or (default_video_id(source) if source else None)
    if not video_id:
        raise InvalidInput(f"job {job_id} is not in {root / PENDING}: name its video id")
    return VideoJob(source or f"roboflow-job:{job_id}", video_id, float(entry.get("fps") or fps), job_id, path)


def check_source(source: str) -> None:
    """A local source must be a readable file (checked before anything is paid for)."""
    if not is_url(source) and not Path(source).is_file():
        raise InvalidInput(f"{source}: no such video file (give a file or an http(s) URL)")


def check_store(store: VectorStore) -> None:
    """Refuse before paying when the collection holds another model's vectors."""
    info = store.info()
    if info is not None and info.model != ROBOFLOW_CLIP_MODEL:
        raise ModelMismatch(
            f"{store.description} holds vectors of model {info.model!r}; Roboflow's are {ROBOFLOW_CLIP_MODEL!r}. "
            "Use another collection or store for another model."
        )


def submit(
    api: RoboflowVideoAPI,
    job: VideoJob,
    root: Path,
    on_stage: OnStage = no_stage,
    *,
    upload: Path | None = None,
    owner: str | None = None,
) -> VideoJob:
    """Upload the video (`upload`, else the source unless it is a URL), start the job, record it as pending."""
    if upload is None:
        check_source(job.source)
    input_url = job.source
    if upload is not None or not is_url(job.source):
        on_stage(Stage.UPLOADING, {})
        input_url = api.upload(upload or Path(job.source))
    on_stage(Stage.SUBMITTING, {})
    submitted = replace(job, job_id=api.submit(input_url, job.fps))
    remember(root, submitted, owner)
    on_stage(Stage.SUBMITTED, {"job_id": submitted.job_id})
    return submitted


def fetch(
    api: RoboflowVideoAPI,
    job: VideoJob,
    root: Path,
    policy: PollPolicy = PollPolicy(),
    *,
    on_stage: OnStage = no_stage,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Wait for the job and save its raw results JSON (skipped when already saved); returns the file."""
    assert job.job_id, "fetch needs a submitted job"
    path = results_path(root, job.job_id)
    if path.is_file():
        return path
    on_stage(Stage.RUNNING, {"polls": 0, "elapsed": 0.0})
    status = wait_for_job(
        api,
        job.job_id,
        policy,
        sleep=sleep,
        clock=clock,
        on_poll=lambda polls, elapsed: on_stage(Stage.RUNNING, {"polls": polls, "elapsed": round(elapsed, 1)}),
    )
    on_stage(Stage.DOWNLOADING, {})
    write_atomic(path, api.download(status))
    on_stage(Stage.SAVED, {"path": str(path)})
    return path


def index_saved(store: VectorStore, job: VideoJob, path: Path, root: Path) -> RoboflowReport:
    """Index saved raw results as the job's video, then drop the job from the pending list."""
    assert job.job_id, "index_saved needs a submitted job"
    parsed = load_results_file(path)
    record = ingest_results(
        store,
        parsed,
        job.video_id,
        fps=parsed.sample_fps() or job.fps,
        model=ROBOFLOW_CLIP_MODEL,
        source=SOURCE,
        path=job.path,
        content_hash=parsed.content_hash,
        extra={"roboflow_job_id": job.job_id, "requested_fps": job.fps},
    )
    forget(root, job.job_id)
    return RoboflowReport(**IngestReport.of(record).model_dump(), job_id=job.job_id, results_path=str(path))


def run_video(
    api: RoboflowVideoAPI,
    store: VectorStore,
    job: VideoJob,
    root: Path,
    policy: PollPolicy = PollPolicy(),
    *,
    on_stage: OnStage = no_stage,
    sleep: Callable[[float], None] = time.sleep,
    upload: Path | None = None,
    owner: str | None = None,
    index_lock: AbstractContextManager[Any] | None = None,
) -> RoboflowReport:
    """The Roboflow pipeline of one video, for the CLI and the service alike: submit (unless the job has an id),
    wait, save the raw results, then index them (under `index_lock`, when writers share the store)."""
    if job.job_id is None:
        check_store(store)
        job = submit(api, job, root, on_stage, upload=upload, owner=owner)
    path = fetch(api, job, root, policy, on_stage=on_stage, sleep=sleep)
    on_stage(Stage.INDEXING, {"path": str(path)})
    with index_lock or nullcontext():
        return index_saved(store, job, path, root)
