"""The search page and its media routes: the page itself, thumbnails, video files with ranges, image and similar-frame queries.

A thin HTTP layer over service.media and the search core; included by service.app before its greedy
`/videos/{video_id:path}` routes, which would otherwise swallow `/videos/{id}/thumbnail` and `/videos/{id}/file`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import Headers
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from framesearch.errors import FrameSearchError, VideoFileUnavailable
from framesearch.search.core import search_vector, similar
from framesearch.search.images import MAX_IMAGE_BYTES, image_vector
from framesearch.search.models import SearchFilters, SearchResponse, SimilarRequest
from framesearch.search.scale import cosine_scale, threshold_scale
from framesearch.service.media import media_type, video_file
from framesearch.service.playback import Preparing
from framesearch.service.responses import ERRORS, ErrorAnswer, PageConfig, PlaybackPreparing, VideoIdPath
from framesearch.service.state import app_state as _state
from framesearch.validation import build

STATIC_DIR = Path(__file__).parent / "static"
THUMB_CACHE_CONTROL = "public, max-age=604800"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(responses=ERRORS)
RANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    416: {"model": ErrorAnswer, "description": "The Range starts past the end of the file."}
}


class RangedFile(FileResponse):
    """A file answered with HTTP ranges (206) whose Range errors answer `{"error","detail"}` like every other
    error: 400 InvalidInput for a malformed header, 416 RangeNotSatisfiable (with `Content-Range: bytes */SIZE`)
    for one past the end. Starlette's own answers to them are plain text."""

    def __init__(self, path: Path, media_type: str, headers: dict[str, str]) -> None:
        try:
            found = os.stat(path)
        except FileNotFoundError:  # removed since its record was read
            raise VideoFileUnavailable("the video's file is no longer available") from None
        super().__init__(path, media_type=media_type, headers=headers, stat_result=found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.range_error(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def range_error(self, scope: Scope) -> JSONResponse | None:
        """The error answer to the request's Range header, or None when it is fine or not used."""
        headers = Headers(scope=scope)
        asked, if_range = headers.get("range"), headers.get("if-range")
        if asked is None or scope.get("method", "GET").upper() not in ("GET", "HEAD") or self.status_code != 200:
            return None
        if if_range is not None and not self._should_use_range(if_range):
            return None  # the whole file is answered
        size = self.stat_result.st_size if self.stat_result else 0
        try:
            self._parse_range_header(asked, size)
        except MalformedRangeHeader as exc:
            detail = f"bad Range header ({exc.content.removeprefix('Range header: ').rstrip('.')}): send `bytes=START-END`"
            return JSONResponse({"error": "InvalidInput", "detail": detail}, status_code=400)
        except RangeNotSatisfiable:
            detail = f"the Range starts past the end of the file, which has {size} bytes"
            headers_out = {"Content-Range": f"bytes */{size}"}
            return JSONResponse({"error": "RangeNotSatisfiable", "detail": detail}, status_code=416, headers=headers_out)
        return None


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The search page (plain HTML, CSS and JS from /static; nothing from elsewhere)."""
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get("/videos/{video_id:path}/thumbnail", response_class=FileResponse, tags=["media"])
def thumbnail(
    request: Request,
    video_id: VideoIdPath,
    t: Annotated[float, Query(ge=0, allow_inf_nan=False, description="Time in seconds.")] = 0.0,
) -> Response:
    """The video's frame at `t` as a JPEG, extracted on first request and cached on disk."""
    state = _state(request)
    thumb = state.thumbnails().get(state.store, video_id, t)
    headers = {"Cache-Control": THUMB_CACHE_CONTROL, "ETag": thumb.etag}
    if thumb.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(thumb.data, media_type="image/jpeg", headers=headers)


@router.get("/videos/{video_id:path}/file", response_class=FileResponse, tags=["media"], responses=RANGE_ERRORS)
def video(request: Request, video_id: VideoIdPath) -> FileResponse:
    """The video's registered file, with HTTP range requests (206, 416) for seeking players."""
    path = video_file(_state(request).store, video_id)
    return RangedFile(path, media_type(path), {"Cache-Control": "no-cache"})


@router.get(
    "/videos/{video_id:path}/play",
    response_class=FileResponse,
    tags=["media"],
    responses={202: {"model": PlaybackPreparing, "description": "A playable copy is being made: ask again."}, **RANGE_ERRORS},
)
def play(request: Request, video_id: VideoIdPath) -> Response:
    """The video for a browser's player, with range requests: its own file when browsers play its format and
    codecs, else an H.264/AAC MP4 copy made once in the background (202 with the progress until it is ready)."""
    answer = _state(request).playback().get(_state(request).store, video_id)
    if isinstance(answer, Preparing):
        percent = "" if answer.progress is None else f" ({answer.progress:.0%} done)"
        body = PlaybackPreparing(
            status="queued" if answer.queued else "preparing",
            progress=answer.progress,
            detail=f"preparing a browser-playable copy of this video{percent}",
        )
        return JSONResponse(body.model_dump(), status_code=202, headers={"Retry-After": "1", "Cache-Control": "no-store"})
    return RangedFile(answer.path, answer.media_type, {"Cache-Control": "no-cache"})


@router.get("/config", tags=["meta"])
def config(request: Request) -> PageConfig:
    """What the page shows before any search: the model, the threshold in force with its scale and labels, and
    whether image queries are possible."""
    state = _state(request)
    info = state.store.info()
    text = _loaded(state.embedder)
    image = _loaded(state.image_embedder)
    return PageConfig(
        model=info.model if info else getattr(text[0], "name", None),
        videos=state.store.video_page(limit=1)[0],  # the count, not every record (a library of 10,000)
        frames=state.store.frame_count(),
        threshold=threshold_scale(state.settings, text[0], state.store),
        cosine=cosine_scale(state.settings, text[0]),
        image_search=image[0] is not None,
        image_search_detail=image[1],
    )


def _loaded(load) -> tuple[object | None, str | None]:
    """An embedder of the app state, or None and why not."""
    try:
        return load(), None
    except FrameSearchError as exc:
        return None, str(exc)


@router.post("/search/image", tags=["search"])
def search_image(
    request: Request,
    file: Annotated[UploadFile, File(description="The query image (JPEG, PNG, WebP, ...).")],
    video_id: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI reads the default
    threshold: Annotated[float | None, Form()] = None,
    limit: Annotated[int | None, Form()] = None,
    mode: Annotated[str, Form()] = "segments",
    t_min: Annotated[float | None, Form()] = None,
    t_max: Annotated[float | None, Form()] = None,
    frames: Annotated[bool, Form()] = False,
) -> SearchResponse:
    """Search by an image: its CLIP image embedding is the query vector; same answer as /search."""
    filters = build(
        SearchFilters, video_id=video_id, threshold=threshold, limit=limit, mode=mode, t_min=t_min, t_max=t_max, frames=frames
    )
    state = _state(request)
    embedder = state.image_embedder()
    max_pixels = int(state.settings.max_image_megapixels * 1e6)
    vector = image_vector(file.file.read(MAX_IMAGE_BYTES + 1), embedder, max_pixels)
    return search_vector(state.store, vector, filters, state.settings, embedder)


@router.post("/search/similar", tags=["search"])
def search_similar(request: Request, body: SimilarRequest) -> SearchResponse:
    """More like this: the stored vector of one frame is the query; same answer as /search."""
    state = _state(request)
    return similar(state.store, body, state.settings)
