"""The search page and its media routes: the page itself, thumbnails, video files with ranges, image and similar-frame queries.

A thin HTTP layer over service.media and the search core; included by service.app before its greedy
`/videos/{video_id:path}` routes, which would otherwise swallow `/videos/{id}/thumbnail` and `/videos/{id}/file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from framesearch.search.core import search_vector, similar
from framesearch.search.images import MAX_IMAGE_BYTES, image_vector
from framesearch.search.models import SearchFilters, SearchResponse, SimilarRequest
from framesearch.service.media import media_type, video_file
from framesearch.service.responses import ERRORS
from framesearch.service.state import app_state as _state
from framesearch.validation import build

STATIC_DIR = Path(__file__).parent / "static"
THUMB_CACHE_CONTROL = "public, max-age=604800"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(responses=ERRORS)


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The search page (plain HTML, CSS and JS from /static; nothing from elsewhere)."""
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get("/videos/{video_id:path}/thumbnail", response_class=FileResponse, tags=["media"])
def thumbnail(
    request: Request, video_id: str, t: Annotated[float, Query(ge=0, allow_inf_nan=False, description="Time in seconds.")] = 0.0
) -> Response:
    """The video's frame at `t` as a JPEG, extracted on first request and cached on disk."""
    state = _state(request)
    thumb = state.thumbnails().get(state.store, video_id, t)
    headers = {"Cache-Control": THUMB_CACHE_CONTROL, "ETag": thumb.etag}
    if thumb.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(thumb.data, media_type="image/jpeg", headers=headers)


@router.get("/videos/{video_id:path}/file", response_class=FileResponse, tags=["media"])
def video(request: Request, video_id: str) -> FileResponse:
    """The video's registered file, with HTTP range requests (206, 416) for seeking players."""
    path = video_file(_state(request).store, video_id)
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": "no-cache"})


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
) -> SearchResponse:
    """Search by an image: its CLIP image embedding is the query vector; same answer as /search."""
    filters = build(SearchFilters, video_id=video_id, threshold=threshold, limit=limit, mode=mode, t_min=t_min, t_max=t_max)
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
