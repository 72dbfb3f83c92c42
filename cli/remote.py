"""The CLI and a running service: find the service that holds the store, and follow the jobs sent to it.

Qdrant Edge lets one process open a store. While `framesearch serve` holds it, the service records its address
in the store folder (store/address.py) and every command asks it instead (service/client.py), printing the same
output with the same exit status. `--url` / FRAMESEARCH_URL names a service explicitly; FRAMESEARCH_API_KEY (or
FRAMESEARCH_READ_API_KEY) is the key sent. A recorded service whose process is gone, or that does not answer, is
ignored: the command opens the store itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framesearch.errors import StoreError

if TYPE_CHECKING:
    from framesearch.service.client import ServiceClient
    from framesearch.service.jobs import Job
    from framesearch.settings import Settings

ANSWER_WAIT_S = 5.0  # a service just started records its address a moment before it answers
POLL_S = 0.25


def service_for(settings: Settings) -> ServiceClient | None:
    """The service to talk to: the one `url` names, else the live one recorded beside the store; None: none."""
    if settings.url:
        return _client(settings, settings.url)
    if settings.qdrant_url:
        return None  # a Qdrant server is shared by any number of processes: open it directly
    from framesearch.store.address import read_address

    address = read_address(settings.store)
    if address is None or address.collection != settings.collection:
        return None
    client = _client(settings, address.url)
    deadline = time.monotonic() + ANSWER_WAIT_S
    while True:
        try:
            client.ping(timeout=2.0)
            return client
        except StoreError:
            if time.monotonic() > deadline:
                client.close()
                return None  # stale: the command opens the store (and its lock names the process, if any)
            time.sleep(0.1)


def _client(settings: Settings, url: str) -> ServiceClient:
    from framesearch.service.client import ServiceClient

    full, read = settings.api_keys()
    return ServiceClient(url, full or read)


def follow_job(client: ServiceClient, job_id: str, show: bool) -> Job:
    """Poll a job until it ends, drawing its progress (a bar per video, as a local ingest draws); the final job."""
    from framesearch.cli.ingest import progress_bar, tracker

    trackers: dict[str, Any] = {}
    seen: dict[str, tuple[int, int | None]] = {}  # each video's last frames done and total
    with progress_bar(show) as bar:
        while True:
            job = client.job(job_id)
            video = job.progress.get("video")
            if video is not None and job.status == "running":
                if video not in trackers:
                    for earlier, (done, total) in seen.items():  # the service went on to the next video: it is done
                        trackers[earlier](total or done, total or done)
                    seen.clear()
                    trackers[video] = tracker(bar, str(video))
                seen[video] = (int(job.progress.get("frames") or 0), job.progress.get("total"))
                trackers[video](*seen[video])
            if job.status in ("done", "failed"):
                for video_id in seen:
                    outcome = next((o for o in job.outcomes if o.video_id == video_id), None)
                    if outcome is not None and outcome.status == "indexed":
                        trackers[video_id](outcome.frames, outcome.frames)
                return job
            time.sleep(POLL_S)


def _absolute_if_folder(model: str | None) -> str | None:
    """A model folder named relative to this folder, as the service (elsewhere) must find it."""
    if model and Path(model).expanduser().is_dir():
        return str(Path(model).expanduser().resolve())
    return model


def library_job(client: ServiceClient, inputs: list[Path], req: Any, model: str | None, show: bool) -> list[Any]:
    """Send `ingest local` to the service as a library job and follow it; the outcomes of its videos."""
    from framesearch.cli.main import err
    from framesearch.service.client import error_from
    from framesearch.service.library_jobs import LibraryJobRequest

    job_req = LibraryJobRequest(
        inputs=[str(p.expanduser().resolve()) for p in inputs],
        recursive=req.recursive,
        force=req.force,
        prune=req.prune,
        fps=req.fps,
        video_id=req.video_id,
        model=_absolute_if_folder(model),
        only=None,
    )
    accepted = client.submit_library(job_req)
    if show:
        err.print(f"indexing in the service at {client.url} (job {accepted.job_id})", highlight=False, soft_wrap=True)
    try:
        job = follow_job(client, accepted.job_id, show)
    except KeyboardInterrupt:
        err.print(f"the service goes on with job {accepted.job_id}: its page and GET /jobs/{accepted.job_id} show it")
        raise
    if job.status == "failed" and not job.outcomes:
        raise error_from(job.error_code or "FrameSearchError", job.error or "the job failed")
    return job.outcomes
