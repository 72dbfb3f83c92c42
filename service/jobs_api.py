"""HTTP routes of ingest jobs, shaped like Roboflow's job API: POST /jobs, GET /jobs, GET /jobs/{id}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from framesearch.errors import PayloadTooLarge
from framesearch.settings import Settings
from framesearch.service.jobs import JobManager
from framesearch.service.uploads import receive_job_body

router = APIRouter(tags=["jobs"])
FORM_SLACK = 1024 * 1024

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


def start_jobs(settings: Settings, store: Any, image_embedder: Callable[[], Any]) -> JobManager:
    """Create and start the service's job manager (resuming jobs left by a previous run)."""
    manager = JobManager(settings, store, image_embedder)
    manager.start()
    return manager


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs


@router.post("/jobs", status_code=202, openapi_extra=_OPENAPI)
async def create_job(request: Request) -> JSONResponse:
    """Queue an ingest job for an uploaded video (multipart `file`) or a `url`; answers at once with its id."""
    manager = _jobs(request)
    limit = manager.settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise PayloadTooLarge(f"upload exceeds the limit of {manager.settings.max_upload_mb} MB")
    job_id, folder = manager.new_folder()
    try:
        content_type = request.headers.get("content-type", "")
        body, upload = await receive_job_body(request.stream(), content_type, folder, limit)
        fields = {**request.query_params, **body}
        record = manager.submit(
            job_id,
            provider=fields.get("provider", "local"),
            fps=fields.get("fps"),
            url=fields.get("url") or None,
            upload=upload.path if upload else None,
            filename=upload.filename if upload else None,
            video_id=fields.get("video_id") or None,
        )
    except BaseException:
        manager.discard(job_id)
        raise
    return JSONResponse({"job_id": record["job_id"], "status": record["status"]}, status_code=202)


@router.get("/jobs")
def list_jobs(request: Request) -> dict[str, Any]:
    """Every job, newest first."""
    jobs = _jobs(request).list()
    return {"count": len(jobs), "jobs": jobs}


@router.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """A job's state: queued, running (with stage and progress), done (with counts) or failed (with the reason)."""
    return _jobs(request).get(job_id)
