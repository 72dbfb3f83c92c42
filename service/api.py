"""The JSON API routes: health, search, the video library and results uploads. They only translate:
build the core's request model, call the core off the event loop, answer its typed response."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from framesearch.errors import InvalidInput
from framesearch.ingest.index import IngestReport, ingest_results
from framesearch.ingest.requests import ResultsIngest
from framesearch.search.core import search
from framesearch.search.models import SearchRequest, SearchResponse
from framesearch.service.responses import ERRORS, Deleted, Health, VideoList
from framesearch.service.state import AppState, app_state
from framesearch.service.uploads import save_body
from framesearch.store.schema import VideoRecord
from framesearch.validation import build

router = APIRouter(responses=ERRORS)


def run_search(state: AppState, req: SearchRequest) -> SearchResponse:
    """Text queries use the collection's model; vector queries need none."""
    embedder = state.embedder() if req.q is not None else None
    return search(state.store, req, state.settings, embedder)


@router.get("/healthz")
def healthz(request: Request) -> Health:
    state = app_state(request)
    info = state.store.info()
    index = state.store.index_status()
    return Health(status="ok", store=state.store.description, model=info.model if info else None,
                  frames=state.store.frame_count(), indexed_frames=index.indexed,
                  indexing=bool(state.indexer and state.indexer.building))


@router.get("/search", tags=["search"])
def search_get(request: Request, query: Annotated[SearchRequest, Query()]) -> SearchResponse:
    """Text search (`q`) across the library or the given videos: ranked segments, or frames."""
    return run_search(app_state(request), query)


@router.post("/search", tags=["search"])
def search_post(request: Request, body: SearchRequest) -> SearchResponse:
    """Search by text `q` or a raw `vector`, with filters."""
    return run_search(app_state(request), body)


@router.get("/videos", tags=["videos"])
def videos(request: Request) -> VideoList:
    records = app_state(request).store.list_videos()
    return VideoList(count=len(records), videos=records)


@router.post("/videos/{video_id:path}/results", status_code=201, tags=["videos"])
async def upload_results(request: Request, video_id: str, fps: float | None = None, model: str | None = None) -> IngestReport:
    """Index a Roboflow results JSON (the body, or a multipart `file`) as video `video_id`. The body is streamed
    to disk, parsed in a worker process when large, indexed in a thread; the search index is built afterwards
    in the background (searches meanwhile are correct, scanning the new frames)."""
    req = build(ResultsIngest, video_id=video_id, fps=fps, **({"model": model} if model is not None else {}))
    if req.video_id is None:
        raise InvalidInput("a results upload needs a video id")
    state = app_state(request)
    uploads = state.settings.work_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=uploads))
    try:
        path = await save_body(request, state.settings.max_upload_mb, folder, field="file")
        parsed = await run_in_threadpool(state.parser.parse, path, f"results upload for {video_id!r}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record = await run_in_threadpool(
        ingest_results, state.store, parsed, req.video_id, fps=req.fps, model=req.model, source="results"
    )
    if state.indexer is not None:
        state.indexer.request()
    return IngestReport.of(record)


@router.get("/videos/{video_id:path}", tags=["videos"])
def video(request: Request, video_id: str) -> VideoRecord:
    return app_state(request).store.get_video(video_id)


@router.delete("/videos/{video_id:path}", tags=["videos"])
def delete_video(request: Request, video_id: str) -> Deleted:
    deleted = app_state(request).store.delete_video(video_id)
    return Deleted(video_id=video_id, deleted_frames=deleted)
