"""HTTP routes of ingest jobs, shaped like Roboflow's job API: POST /jobs, GET /jobs, GET /jobs/{id}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from framesearch.errors import Forbidden
from framesearch.ingest.requests import JobRequest
from framesearch.service.jobs import Job, JobAccepted, JobList, JobManager
from framesearch.service.library_jobs import LibraryJobRequest
from framesearch.service.responses import ERRORS
from framesearch.service.uploads import MB, receive_job_body, refuse_declared_size
from framesearch.settings import Settings
from framesearch.validation import build

router = APIRouter(tags=["jobs"], responses=ERRORS)

_FIELDS = {
    "url": {"type": "string", "description": "Video URL (instead of a file)."},
    "fps": {"type": "number", "default": 3, "description": "Frames per second to embed."},
    "provider": {"type": "string", "enum": ["local", "roboflow"], "default": "local"},
    "video_id": {"type": "string", "description": "Video id (default: the file or URL name)."},
}
_OPENAPI = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}, **_FIELDS}}
            },
            "application/json": {"schema": {"type": "object", "properties": _FIELDS, "required": ["url"]}},
        }
    }
}


def start_jobs(
    settings: Settings, store: Any, image_embedder: Callable[[], Any], after_ingest: Callable[[], None] | None = None
) -> JobManager:
    """Create and start the service's job manager (resuming jobs left by a previous run); `after_ingest` is
    called when a job has written its frames (the app builds the search index then)."""
    manager = JobManager(settings, store, image_embedder, after_ingest=after_ingest)
    manager.start()
    return manager


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs


@router.post("/jobs", status_code=202, openapi_extra=_OPENAPI)
async def create_job(request: Request) -> JobAccepted:
    """Queue an ingest job for an uploaded video (multipart `file`) or a `url`; answers at once with its id."""
    manager = _jobs(request)
    max_mb = manager.settings.max_upload_mb
    refuse_declared_size(request.headers, max_mb)
    job_id, folder = manager.new_folder()
    try:
        content_type = request.headers.get("content-type", "")
        body, upload = await receive_job_body(request.stream(), content_type, folder, max_mb * MB)
        fields = {**request.query_params, **body}
        # an empty form field means "not given", except a choice: an empty `provider` is none of its values
        given = {k: v for k, v in fields.items() if k in JobRequest.model_fields and (v != "" or k == "provider")}
        req = build(JobRequest, **given)
        record = await run_in_threadpool(  # submit loads the local model for local jobs: not on the event loop
            manager.submit, job_id, req, upload=upload.path if upload else None, filename=upload.filename if upload else None
        )
    except BaseException:
        manager.discard(job_id)
        raise
    return JobAccepted(job_id=record.job_id, status=record.status)


@router.post("/jobs/library", status_code=202)
async def create_library_job(request: Request, body: LibraryJobRequest) -> JobAccepted:
    """Queue the indexing of video files and folders on the service's own machine (what `framesearch ingest local`
    sends to a running service). Their paths are the service machine's: only loopback clients may send them."""
    if not client_is_loopback(request):
        raise Forbidden("library jobs name files on the service's machine: only clients on that machine may send them")
    record = await run_in_threadpool(_jobs(request).submit_library, body)
    return JobAccepted(job_id=record.job_id, status=record.status)


def client_is_loopback(request: Request) -> bool:
    import ipaddress

    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@router.get("/jobs")
def list_jobs(request: Request) -> JobList:
    """Every job, newest first."""
    jobs = _jobs(request).list()
    return JobList(count=len(jobs), jobs=jobs)


@router.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str) -> Job:
    """A job's state: queued, running (with stage and progress), done (with counts) or failed (with the reason)."""
    return _jobs(request).get(job_id)
