"""The search page and its media routes: the page itself, thumbnails, video files with ranges, image and similar-frame queries.

A thin HTTP layer over service.media and service.search; included by service.app before its greedy
`/videos/{video_id:path}` routes, which would otherwise swallow `/videos/{id}/thumbnail` and `/videos/{id}/file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from framesearch.service.media import MAX_IMAGE_BYTES, image_vector, media_type, video_file
from framesearch.service.requests import SimilarBody
from framesearch.service.requests import app_state as _state
from framesearch.search.core import SearchRequest, search

STATIC_DIR = Path(__file__).parent / "static"
THUMB_CACHE_CONTROL = "public, max-age=604800"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The search page (plain HTML, CSS and JS from /static; nothing from elsewhere)."""
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get("/videos/{video_id:path}/thumbnail", response_class=FileResponse, tags=["media"])
def thumbnail(
    request: Request, video_id: str, t: Annotated[float, Query(ge=0, description="Time in seconds.")] = 0.0
) -> Response:
    """The video's frame at `t` as a JPEG, extracted on first request and cached on disk."""
    state = _state(request)
    thumb = state.thumbnails().get(state.store, video_id, t)
    headers = {"Cache-Control": THUMB_CACHE_CONTROL, "ETag": thumb.etag}
    if thumb.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return FileResponse(thumb.path, media_type="image/jpeg", headers=headers)


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
    threshold: Annotated[float | None, Form(ge=-1, le=1)] = None,
    limit: Annotated[int, Form(ge=1, le=1000)] = 20,
    mode: Annotated[Literal["segments", "frames"], Form()] = "segments",
    t_min: Annotated[float | None, Form()] = None,
    t_max: Annotated[float | None, Form()] = None,
) -> dict[str, Any]:
    """Search by an image: its CLIP image embedding is the query vector; same answer as /search."""
    state = _state(request)
    vector = image_vector(file.file.read(MAX_IMAGE_BYTES + 1), state.image_embedder())
    req = SearchRequest(None, vector, video_id, t_min, t_max, threshold, limit, mode)
    return search(state.store, req).to_dict()


@router.post("/search/similar", tags=["search"])
def search_similar(request: Request, body: SimilarBody) -> dict[str, Any]:
    """More like this: the stored vector of one frame is the query; same answer as /search."""
    state = _state(request)
    vector = state.store.frame_vector(body.like.video_id, body.like.frame).astype(float).tolist()
    return search(state.store, body.request(vector=vector)).to_dict()
