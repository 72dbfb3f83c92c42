"""The JSON API routes: health, search, the video library and results uploads. They only translate:
build the core's request model, call the core off the event loop, answer its typed response."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from framesearch.errors import InvalidInput, NotFound
from framesearch.ingest import deletes
from framesearch.ingest.clips import ClipRequest, cut_clip
from framesearch.ingest.deletes import DeleteReport, videos_to_delete
from framesearch.ingest.index import IngestReport
from framesearch.ingest.requests import DeleteVideos, ResultsIngest
from framesearch.ingest.results_ingest import ingest_parsed_results
from framesearch.search.core import search
from framesearch.search.exports import MEDIA_TYPES, export
from framesearch.search.models import SearchRequest, SearchResponse, Timeline
from framesearch.search.timeline import timeline
from framesearch.service.housekeeping import release_media
from framesearch.service.media import video_file
from framesearch.service.responses import ERRORS, CollectionList, Deleted, Health, VideoIdPath, VideoList
from framesearch.service.security import shows_details
from framesearch.service.state import AppState, app_state
from framesearch.service.uploads import save_body
from framesearch.store.pages import VideoSort
from framesearch.store.schema import VideoRecord
from framesearch.validation import build

router = APIRouter(responses=ERRORS)
DEFAULT_PAGE = 100  # videos per page of GET /videos
MAX_PAGE = 1000


EXPORTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The results as JSON (`format=json`, the default), CSV, WebVTT or a CMX3600 EDL.",
        "content": {MEDIA_TYPES[f]: {} for f in ("csv", "vtt", "edl")},
    }
}


def needs_text(req: SearchRequest) -> bool:
    return req.q is not None or req.then is not None or bool(req.negatives)


def run_search(state: AppState, req: SearchRequest) -> SearchResponse | Response:
    """Text queries use the collection's model; vector queries need none. Non-JSON formats answer as text."""
    embedder = state.embedder() if needs_text(req) else None
    response = search(state.store, req, state.settings, embedder)
    if req.format == "json":
        return response
    headers = {} if response.next_cursor is None else {"X-Next-Cursor": response.next_cursor}
    return Response(export(state.store, response, req.format, req.then), media_type=MEDIA_TYPES[req.format], headers=headers)


@router.get("/healthz", response_model=Health)  # public: service.security lets it through without a key
def healthz(request: Request) -> Health | Response:
    """ "ok" while the service is up; the store's kind, model and counts only for callers with a key (or all callers
    of a service without keys), never a path."""
    state = app_state(request)
    if not shows_details(state.settings, request.headers):
        return JSONResponse({"status": "ok"})
    info = state.store.info()
    index = state.store.index_status()
    return Health(
        status="ok",
        store=f"{'Qdrant server' if state.settings.qdrant_url else 'Qdrant Edge'}, collection {state.settings.collection!r}",
        model=info.model if info else None,
        frames=state.store.frame_count(),
        indexed_frames=index.indexed,
        index=index.words(),
        indexing=bool(state.indexer and state.indexer.building),
    )


@router.get("/search", tags=["search"], response_model=SearchResponse, responses=EXPORTS)
def search_get(request: Request, query: Annotated[SearchRequest, Query()]) -> SearchResponse | Response:
    """Text search (`q`) across the library or the given videos: ranked segments, frames, or sequences (`then`)."""
    return run_search(app_state(request), query)


@router.post("/search", tags=["search"], response_model=SearchResponse, responses=EXPORTS)
def search_post(request: Request, body: SearchRequest) -> SearchResponse | Response:
    """Search by text `q` or a raw `vector`, with filters."""
    return run_search(app_state(request), body)


@router.get("/videos/{video_id:path}/timeline", tags=["videos"])
def video_timeline(request: Request, video_id: VideoIdPath, query: Annotated[SearchRequest, Query()]) -> Timeline:
    """Every indexed frame of the video with its score and confidence for the query (same parameters as /search)."""
    state = app_state(request)
    embedder = state.embedder() if needs_text(query) else None
    return timeline(state.store, video_id, query, state.settings, embedder)


@router.get("/videos/{video_id:path}/clip", response_class=FileResponse, tags=["videos"])
def video_clip(
    request: Request,
    video_id: VideoIdPath,
    start: Annotated[float, Query(ge=0, allow_inf_nan=False, description="Start (s).")],
    end: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="End (s); default: the end of the video.")] = None,
) -> FileResponse:
    """The moment from `start` to `end` as an MP4: stream-copied where keyframes and MP4 allow, else re-encoded
    (odd frame sizes scaled to even). The file's name gives the range actually cut."""
    import tempfile
    from pathlib import Path

    source = video_file(app_state(request).store, video_id)
    folder = Path(tempfile.mkdtemp(prefix="framesearch-clip-"))
    target = folder / "clip.mp4"
    try:
        report = cut_clip(build(ClipRequest, source=source, start=start, end=end, output=target))
    except BaseException:
        _remove(folder)
        raise
    name = f"{Path(video_id).stem}-{report.start:.2f}-{report.end:.2f}.mp4"
    headers = {"X-Clip-Start": f"{report.start:g}", "X-Clip-End": f"{report.end:g}"}
    return FileResponse(
        target, media_type="video/mp4", filename=name, headers=headers, background=BackgroundTask(_remove, folder)
    )


def _remove(folder) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@router.get("/collections", tags=["videos"])
def collections(request: Request) -> CollectionList:
    """The collections of the library this service holds (`framesearch collections list`), and the one it serves."""
    from framesearch.store.collections import list_collections

    settings = app_state(request).settings
    return CollectionList(collections=list_collections(settings), current=settings.collection)


@router.get("/videos", tags=["videos"])
def videos(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Videos per page.")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=20, description="The `next_cursor` of the page before.")] = None,
    q: Annotated[str | None, Query(max_length=1000, description="Only videos with this text in their id or a path.")] = None,
    under: Annotated[str | None, Query(max_length=1000, description="Only videos whose id starts with this.")] = None,
    sort: Annotated[VideoSort, Query(description="name (A-Z), indexed (newest first), duration (longest first).")] = "name",
) -> VideoList:
    """The library, a page at a time (default 100 videos), matched and sorted where the store is."""
    offset = _cursor_offset(cursor)
    store = app_state(request).store
    total, records = store.video_page(limit=limit, offset=offset, match=q or None, under=under or None, sort=sort)
    after = offset + len(records)
    return VideoList(count=len(records), total=total, next_cursor=str(after) if after < total else None, videos=records)


def _cursor_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdecimal():
        raise InvalidInput("cursor: not a cursor this service gave (pass a page's next_cursor)")
    return int(cursor)


@router.post("/videos/{video_id:path}/results", status_code=201, tags=["videos"])
async def upload_results(
    request: Request, video_id: VideoIdPath, fps: float | None = None, model: str | None = None, dry_run: bool = False
) -> IngestReport:
    """Index a Roboflow results JSON (the body, or a multipart `file`) as video `video_id`. `model` names the model
    that made the vectors (default: the one the file records, else clip/ViT-B-16); `dry_run` checks and describes.
    The body is streamed to disk, parsed in a worker process when large, indexed in a thread; the search index is
    built afterwards in the background (searches meanwhile are correct, scanning the new frames)."""
    req = build(ResultsIngest, video_id=video_id, fps=fps, model=model, dry_run=dry_run)
    if req.video_id is None:
        raise InvalidInput("a results upload needs a video id")
    state = app_state(request)
    uploads = state.settings.work_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=uploads))
    where = f"results upload for {video_id!r}"
    try:
        path = await save_body(request, state.settings.max_upload_mb, folder, field="file")
        parsed = await run_in_threadpool(state.parser.parse, path, where)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = await run_in_threadpool(
        ingest_parsed_results, state.store, parsed, req, state.settings, default_id=None, where=where, source="results"
    )
    if state.indexer is not None and not req.dry_run:
        state.indexer.request()
    return report


@router.post("/videos/delete", tags=["videos"])
def delete_videos(request: Request, body: DeleteVideos) -> DeleteReport:
    """Delete several videos at once: `video_ids`, and/or every video whose files are gone (`missing`), and/or every
    id under a prefix (`under`); a client asks its user first. Unknown ids are listed in `not_found`."""
    state = app_state(request)
    given, selected = videos_to_delete(state.store, body)
    report = deletes.delete_videos(state.store, given + selected)
    for done in report.deleted:
        release_media(state.settings.work_dir, done.path)
    return report


@router.get("/videos/{video_id:path}", tags=["videos"])
def video(request: Request, video_id: VideoIdPath) -> VideoRecord:
    return app_state(request).store.get_video(video_id)


@router.delete("/videos/{video_id:path}", tags=["videos"])
def delete_video(request: Request, video_id: VideoIdPath) -> Deleted:
    """Delete a video's frames and record (and the video file, if the service keeps it for a job)."""
    state = app_state(request)
    try:
        path = state.store.get_video(video_id).path
    except NotFound:
        path = None
    deleted = state.store.delete_video(video_id)
    release_media(state.settings.work_dir, path)
    return Deleted(video_id=video_id, deleted_frames=deleted)
