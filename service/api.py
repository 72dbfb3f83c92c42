"""The JSON API routes: health, search, the video library and results uploads."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from framesearch.errors import InvalidInput
from framesearch.ingest.index import ROBOFLOW_CLIP_MODEL, ingest_results
from framesearch.ingest.results import parse_results
from framesearch.service.requests import SearchBody, app_state
from framesearch.search.core import SearchRequest, search
from framesearch.service.state import AppState

router = APIRouter()


def run_search(state: AppState, req: SearchRequest) -> dict[str, Any]:
    """Text queries use the collection's model; vector queries need none."""
    embedder = state.embedder() if req.text is not None else None
    return search(state.store, req, embedder).to_dict()


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    state = app_state(request)
    info = state.store.info()
    return {
        "status": "ok",
        "store": state.store.description,
        "model": info.model if info else None,
        "frames": state.store.frame_count(),
    }


@router.get("/search", tags=["search"])
def search_get(
    request: Request,
    q: str,
    video_id: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default
    threshold: Annotated[float | None, Query(ge=-1, le=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    mode: Literal["segments", "frames"] = "segments",
    t_min: float | None = None,
    t_max: float | None = None,
) -> dict[str, Any]:
    """Text search across the library (or the given videos): ranked segments, or frames."""
    return run_search(app_state(request), SearchRequest(q, None, video_id, t_min, t_max, threshold, limit, mode))


@router.post("/search", tags=["search"])
def search_post(request: Request, body: SearchBody) -> dict[str, Any]:
    """Search by text `q` or a raw `vector`, with filters."""
    return run_search(app_state(request), body.request(body.q, body.vector))


@router.get("/videos", tags=["videos"])
def videos(request: Request) -> dict[str, Any]:
    records = app_state(request).store.list_videos()
    return {"count": len(records), "videos": [r.to_payload() for r in records]}


@router.post("/videos/{video_id:path}/results", status_code=201, tags=["videos"])
async def upload_results(
    request: Request, video_id: str, fps: float | None = None, model: str = ROBOFLOW_CLIP_MODEL
) -> dict[str, Any]:
    """Index a Roboflow results JSON (the body, or a multipart `file`) as video `video_id`."""
    data = await _results_body(request)
    parsed = parse_results(data, where=f"results upload for {video_id!r}")
    store = app_state(request).store
    record = await run_in_threadpool(ingest_results, store, parsed, video_id, fps=fps, model=model, source="results")
    return {"video": record.to_payload(), "frames": record.frames, "skipped": parsed.skipped}


@router.get("/videos/{video_id:path}", tags=["videos"])
def video(request: Request, video_id: str) -> dict[str, Any]:
    return app_state(request).store.get_video(video_id).to_payload()


@router.delete("/videos/{video_id:path}", tags=["videos"])
def delete_video(request: Request, video_id: str) -> dict[str, Any]:
    deleted = app_state(request).store.delete_video(video_id)
    return {"video_id": video_id, "deleted_frames": deleted}


async def _results_body(request: Request) -> Any:
    """The results JSON of an upload: a JSON body, or the `file` field of a multipart form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a 'file' field holding the results JSON")
        raw = await upload.read()
    else:
        raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"results upload is not valid JSON: {exc}") from None
