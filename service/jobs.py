"""Ingest jobs run by the service: persisted records, a pool of workers, and resumption after a restart.

Every job is a JSON file `<work dir>/jobs/<id>/job.json` (its upload beside it), rewritten on each
change. On start, queued and running jobs are resumed: a Roboflow job with a known remote id goes back
to polling, one whose results were saved is indexed from them, a local job is re-run from its saved
upload (idempotent). A job that cannot be resumed is marked failed with the reason; none is lost.

The videos jobs were sent are kept in `<work dir>/media` for playback, named by job id (never by a name a client
sent); a failed job's, a deleted or replaced video's, and any no record names (swept on start) are deleted.
Finished jobs are forgotten past `job_history_max` or `job_history_days`; a crash's partial uploads go on start.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from framesearch.embedders.roboflow import redact
from framesearch.errors import FrameSearchError, InvalidInput, MissingDependency, ModelError, NoImageModel, NotFound
from framesearch.files import write_atomic
from framesearch.ingest import roboflow_job as rj
from framesearch.ingest.requests import JobRequest
from framesearch.ingest.roboflow_api import Interrupted, RoboflowVideoAPI, poll_policy
from framesearch.ingest.stages import Stage
from framesearch.service import housekeeping as hk
from framesearch.service.fetch import check_url, download
from framesearch.service.redact import ServerPaths
from framesearch.service.uploads import MB, safe_suffix
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.validation import check_video_id

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed"]
PROVIDERS = ("local", "roboflow")
ACTIVE = ("queued", "running")
PROGRESS_WRITE_S = 1.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Job(BaseModel):
    """One ingest job as reported: queued, running (with stage and progress), done (counts) or failed (reason)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    provider: str
    video_id: str
    fps: float
    source: str
    status: Status = "queued"
    stage: str | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    remote_job_id: str | None = None
    results_path: str | None = None
    frames: int | None = None
    skipped: int | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    resumed: int = 0
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None


class JobRecord(Job):
    """A job as persisted: its report plus the server path of its upload (never reported)."""

    upload: str | None = None

    def public(self, paths: ServerPaths | None = None) -> Job:
        """The job as a client sees it: no upload path, and with `paths`, none in its error or results file."""
        job = Job.model_validate(self.model_dump(exclude={"upload"}))
        if paths is None:
            return job
        results = Path(job.results_path).name if job.results_path else None  # its name only: where is the server's
        return job.model_copy(update={"error": paths.scrub(job.error) if job.error else None, "results_path": results})


class JobList(BaseModel):
    count: int
    jobs: list[Job]


class JobAccepted(BaseModel):
    job_id: str
    status: Status


class JobManager:
    """Runs ingest jobs on a worker pool; state lives in files so that it outlasts the process."""

    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        image_embedder: Callable[[], Any],
        after_ingest: Callable[[], None] | None = None,
    ) -> None:
        """`image_embedder` gives the local CLIP for local jobs (shared with the app, loaded once); `after_ingest`
        is called after each job that wrote frames (the app's background index build)."""
        self.settings, self.store = settings, store
        self._load_image_embedder = image_embedder
        self._after_ingest = after_ingest
        self.root = settings.work_dir / "jobs"
        self._jobs: dict[str, JobRecord] = {}
        self._lock = threading.RLock()
        self._ingest_lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._api: RoboflowVideoAPI | None = None
        self._last_write: dict[str, float] = {}
        self._runner_lock: Any = None
        self._paths = ServerPaths.of(settings, getattr(store, "description", ""))

    # lifecycle

    def start(self) -> None:
        """Clean up after a crash, load persisted jobs, forget old ones and resume (or fail) the unfinished ones.
        With several service processes (`serve --workers N`) sharing the job folder, only the one holding the
        runner lock cleans up and resumes; each runs the jobs it accepts and answers for all of them."""
        self._pool = ThreadPoolExecutor(self.settings.job_workers, thread_name_prefix="framesearch-job")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"{self.root} is not writable")
            runner = self._take_runner_lock()
        except OSError as exc:  # a read-only data folder: serve searches; job submissions answer 503
            log.warning("jobs are unavailable: cannot use %s: %s", self.root, exc)
            return
        if runner:
            for path in hk.sweep_job_folders(self.root):
                log.info("removed %s, left by an interrupted upload", path)
        for record in sorted(self._load_all(), key=lambda r: r.created_at):
            self._jobs[record.job_id] = record
        if not runner:
            return
        self._prune()
        for record in list(self._jobs.values()):
            if record.status in ACTIVE:
                self._recover(record)
        self._sweep_media()

    def _take_runner_lock(self) -> bool:
        """Whether this process is the one that resumes unfinished jobs (the lock lasts as long as the process)."""
        handle = open(self.root.parent / "jobs.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._runner_lock = handle
        return True

    def stop(self) -> None:
        """Stop polling and let running work end; unfinished jobs stay persisted as queued/running."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._api is not None:
            self._api.close()
        if self._runner_lock is not None:
            self._runner_lock.close()  # closing the file releases the runner lock
            self._runner_lock = None

    def _load_all(self) -> list[JobRecord]:
        return [record for path in self.root.glob("*/job.json") if (record := self._read(path)) is not None]

    def _read(self, path: Path) -> JobRecord | None:
        try:
            return JobRecord.model_validate_json(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("skipping unreadable job file %s: %s", path, exc)
            return None

    def _recover(self, record: JobRecord) -> None:
        reason = self._unresumable(record)
        if reason:
            self._update(record, status="failed", error=f"not resumed after a restart: {reason}", finished_at=_now())
            if record.upload and Path(record.upload).is_file():
                self._drop_upload(record)
            return
        self._update(record, status="queued", stage=Stage.RESUMED, resumed=record.resumed + 1)
        self._schedule(record)

    def _unresumable(self, record: JobRecord) -> str | None:
        if record.provider == "roboflow" and not (record.remote_job_id or record.results_path):
            self._adopt_pending(record)
        if record.provider == "roboflow" and (record.remote_job_id or record.results_path):
            return None
        if record.provider == "roboflow" and record.stage == Stage.SUBMITTING:
            return (
                "the service stopped while submitting the video to Roboflow, so whether Roboflow started a job "
                "is unknown; check your Roboflow dashboard before submitting it again"
            )
        if record.upload and not Path(record.upload).is_file():
            return f"its uploaded video {record.upload} is gone"
        if record.provider not in PROVIDERS:
            return f"unknown provider {record.provider!r}"
        return None

    def _adopt_pending(self, record: JobRecord) -> None:
        """Find the remote job id of a job stopped right after submission in the pending-jobs list."""
        pending = rj.read_pending(rj.results_dir(self.settings))
        owned = [job_id for job_id, entry in pending.items() if entry.get("owner") == record.job_id]
        if len(owned) == 1:
            self._update(record, remote_job_id=owned[0])

    def _prune(self) -> None:
        """Forget finished jobs past the history's age or count (their folders go too)."""
        with self._lock:
            expired = hk.expired_jobs(
                self._jobs.values(), keep=self.settings.job_history_max, days=self.settings.job_history_days
            )
            for job_id in expired:
                self._jobs.pop(job_id, None)
                self._last_write.pop(job_id, None)
        for job_id in expired:
            shutil.rmtree(self.root / job_id, ignore_errors=True)

    def _sweep_media(self) -> None:
        """Delete kept videos that no library record and no unfinished job needs."""
        with self._lock:
            needed = [r.upload for r in self._jobs.values() if r.status in ACTIVE]
        needed += [record.path for record in self.store.list_videos()]
        for path in hk.sweep_media(self.settings.work_dir, needed):
            log.info("removed %s: no video of the library needs it", path)

    def _library_path(self, video_id: str) -> str | None:
        try:
            return self.store.get_video(video_id).path
        except FrameSearchError:
            return None

    # submission and queries

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its folder (where an upload is streamed before the job is submitted)."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def discard(self, job_id: str) -> None:
        """Remove the folder of a submission that was refused."""
        if job_id not in self._jobs:
            shutil.rmtree(self.root / job_id, ignore_errors=True)

    def submit(self, job_id: str, req: JobRequest, *, upload: Path | None = None, filename: str | None = None) -> Job:
        """Queue a job for an uploaded file or a URL; returns its record as queued, at once."""
        if (req.url is None) == (upload is None):
            raise InvalidInput("give a video: either a 'file' upload or a 'url', not both")
        if req.url is not None and req.provider == "local":
            check_url(req.url, self.settings.url_allow_hosts)  # Roboflow fetches its URLs itself, from outside
        source = req.url if req.url is not None else (filename or "upload")
        video_id = check_video_id(req.video_id or rj.default_video_id(source))
        if req.provider == "local":
            self._check_image_model()
        record = JobRecord(
            job_id=job_id,
            provider=req.provider,
            video_id=video_id,
            fps=req.fps,
            source=source,
            upload=str(upload) if upload else None,
        )
        with self._lock:
            self._jobs[job_id] = record
            self._save(record)
            queued = record.public()
        self._schedule(record)
        return queued

    def _check_image_model(self) -> None:
        """Refuse a local job now, not after its upload was queued, when the service has no image model (409)."""
        try:
            self._load_image_embedder()
        except ModelError as exc:
            raise NoImageModel(
                f"this service has no image model, so it cannot index videos ({exc}); start it with a CLIP model"
            ) from None

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id in self._jobs:
                return self._jobs[job_id].public(self._paths)
        shared = self.settings.workers > 1 and "/" not in job_id and job_id not in (".", "..")
        record = self._read(self.root / job_id / "job.json") if shared else None
        if record is None:  # nor run by another service process sharing the jobs folder
            raise NotFound(f"no job {job_id!r}")
        return record.public(self._paths)

    def list(self) -> list[Job]:
        """All jobs, newest first (those of other service processes sharing the jobs folder included)."""
        with self._lock:
            records = dict(self._jobs)
        for record in self._load_all() if self.settings.workers > 1 else ():
            records.setdefault(record.job_id, record)
        return [r.public(self._paths) for r in sorted(records.values(), key=lambda r: r.created_at, reverse=True)]

    # state

    def _save(self, record: JobRecord) -> None:
        write_atomic(self.root / record.job_id / "job.json", record.model_dump_json(indent=2))
        self._last_write[record.job_id] = time.monotonic()

    def _update(self, record: JobRecord, *, persist: bool = True, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(record, key, value)
            record.updated_at = _now()
            if persist or time.monotonic() - self._last_write.get(record.job_id, 0.0) >= PROGRESS_WRITE_S:
                self._save(record)

    def _drop_upload(self, record: JobRecord) -> None:
        """Delete a finished job's upload from its folder (a video kept in the library is not in it)."""
        if record.upload and Path(record.upload).parent == self.root / record.job_id:
            Path(record.upload).unlink(missing_ok=True)
            self._update(record, upload=None)

    def _keep_in_library(self, record: JobRecord, path: Path) -> Path:
        """Move a job's video to `<work dir>/media`, so the page can play it and show thumbnails."""
        kept = hk.media_dir(self.settings.work_dir) / f"{record.job_id}{safe_suffix(record.source.split('?', 1)[0])}"
        if path != kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            path.replace(kept)
            self._update(record, upload=str(kept))
        return kept

    # running

    def _schedule(self, record: JobRecord) -> None:
        assert self._pool is not None, "start() the manager first"
        self._pool.submit(self._run, record.job_id)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Interrupted()

    def _run(self, job_id: str) -> None:
        if self._stop.is_set():
            return
        record = self._jobs[job_id]
        self._update(record, status="running", started_at=record.started_at or _now(), error=None)
        before = self._library_path(record.video_id)
        try:
            frames, skipped = self._run_roboflow(record) if record.provider == "roboflow" else self._run_local(record)
        except Interrupted:
            return  # the service is stopping: the record stays active on disk and is resumed next start
        except FrameSearchError as exc:
            self._update(record, status="failed", stage=None, error=self._clean(str(exc)), finished_at=_now())
        except Exception as exc:  # a bug must fail the job visibly, not kill the worker silently
            log.exception("job %s crashed", job_id)
            error = self._clean(f"internal error: {type(exc).__name__}: {exc}")
            self._update(record, status="failed", stage=None, error=error, finished_at=_now())
        else:
            self._update(record, status="done", stage=None, frames=frames, skipped=skipped, finished_at=_now())
            if self._after_ingest is not None:
                self._after_ingest()
        self._drop_upload(record)
        self._tidy_media(record, before)
        self._prune()

    def _tidy_media(self, record: JobRecord, before: str | None) -> None:
        """Delete the kept video a failed job leaves, or the one its video had before it was replaced."""
        now = self._library_path(record.video_id)
        if (
            record.status == "failed"
            and record.upload
            and now != record.upload
            and hk.release_media(self.settings.work_dir, record.upload)
        ):
            self._update(record, upload=None)
        if before and before != now:
            hk.release_media(self.settings.work_dir, before)

    def _clean(self, text: str) -> str:
        return redact(text, self.settings.roboflow_key())

    def _roboflow_api(self) -> RoboflowVideoAPI:
        with self._lock:
            if self._api is None:
                self._api = RoboflowVideoAPI(self.settings.roboflow_key(), self.settings.roboflow_api_url)
            return self._api

    def _on_roboflow_stage(self, record: JobRecord, stage: Stage, info: dict[str, Any]) -> None:
        if stage == Stage.SUBMITTED:
            self._update(record, stage=stage, remote_job_id=info["job_id"])
        elif stage == Stage.RUNNING:
            self._update(record, stage=stage, progress=info)
        elif stage in (Stage.SAVED, Stage.INDEXING) and "path" in info:
            self._update(record, stage=stage, results_path=info["path"])
        else:
            self._update(record, stage=stage)

    def _run_roboflow(self, record: JobRecord) -> tuple[int, int]:
        upload = Path(record.upload) if record.upload else None
        if upload is not None and upload.is_file():
            upload = self._keep_in_library(record, upload)
        # The record's file is the kept upload, never `source`: that is a name the client sent.
        path = str(upload) if upload is not None and upload.is_file() else None
        job = rj.VideoJob(record.source, record.video_id, record.fps, record.remote_job_id, path=path)
        report = rj.run_video(
            self._roboflow_api(),
            self.store,
            job,
            rj.results_dir(self.settings),
            poll_policy(self.settings),
            on_stage=functools.partial(self._on_roboflow_stage, record),
            sleep=self._sleep,
            upload=upload,
            owner=record.job_id,
            index_lock=self._ingest_lock,
        )
        return report.frames, report.skipped

    def _run_local(self, record: JobRecord) -> tuple[int, int]:
        try:
            from framesearch.ingest.local import ingest_video
        except ImportError as exc:
            raise MissingDependency(f"local ingest is not available in this installation ({exc})") from None
        embedder = self._load_image_embedder()
        path = self._keep_in_library(record, Path(record.upload) if record.upload else self._download(record))

        def progress(done: int, total: int | None) -> None:
            if self._stop.is_set():
                raise Interrupted()
            self._update(record, persist=False, stage=Stage.EMBEDDING, progress={"frames": done, "total": total})

        warnings: list[str] = []
        with self._ingest_lock:
            video = ingest_video(
                self.store,
                path,
                embedder=embedder,
                fps=record.fps,
                video_id=record.video_id,
                progress=progress,
                warn=warnings.append,
                batch_size=self.settings.embed_batch,
            )
        self._update(record, warnings=warnings)
        return video.frames, video.skipped_frames

    def _download(self, record: JobRecord) -> Path:
        """Fetch a local job's URL into its folder (again after a restart): public addresses only, size-limited."""
        target = self.root / record.job_id / f"download{safe_suffix(record.source.split('?', 1)[0])}"
        self._update(record, stage=Stage.DOWNLOADING)

        def interrupt() -> None:
            if self._stop.is_set():
                raise Interrupted()

        download(
            record.source,
            target,
            limit=self.settings.max_upload_mb * MB,
            allow_hosts=self.settings.url_allow_hosts,
            interrupt=interrupt,
        )
        self._update(record, upload=str(target))
        return target
