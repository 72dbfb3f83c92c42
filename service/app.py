"""The HTTP API (FastAPI): search, the video library, results uploads. A thin layer over the core."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from framesearch import __version__
from framesearch.errors import FrameSearchError, InvalidInput
from framesearch.settings import Settings
from ingest.index import ROBOFLOW_CLIP_MODEL, ingest_results
from ingest.results import parse_results
from service.jobs_api import router as jobs_router
from service.jobs_api import start_jobs
from service.requests import SearchBody
from service.requests import app_state as _state
from service.search import SearchRequest, search
from service.state import AppState
from service.web import STATIC_DIR
from service.web import router as web_router
from store.base import VectorStore
from store.open import open_store


def _record_dict(state: AppState, video_id: str) -> dict[str, Any]:
    record = state.store.get_video(video_id)
    return record.to_payload()


def create_app(settings: Settings, store: VectorStore | None = None) -> FastAPI:
    """The app; opens the store named by `settings` (or uses `store`) for its lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = store or open_store(settings)
        app.state.framesearch = AppState(settings, opened)
        app.state.jobs = start_jobs(settings, opened)
        try:
            yield
        finally:
            app.state.jobs.stop()
            if store is None:
                opened.close()

    # FastAPIOffline serves the /docs and /redoc assets itself (FastAPI's default pulls them from a CDN).
    app = FastAPIOffline(title="framesearch", version=__version__, lifespan=lifespan)
    # The page and media routes go first: /videos/{id}/thumbnail and /file must precede the greedy GET /videos/{id}.
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(jobs_router)

    @app.exception_handler(FrameSearchError)
    async def domain_error(request: Request, exc: FrameSearchError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.http_status)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, Any]:
        state = _state(request)
        info = state.store.info()
        return {
            "status": "ok",
            "store": state.store.description,
            "model": info.model if info else None,
            "frames": state.store.frame_count(),
        }

    def run_search(state: AppState, req: SearchRequest) -> dict[str, Any]:
        embedder = state.embedder() if req.text is not None else None
        return search(state.store, req, embedder).to_dict()

    @app.get("/search")
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
        req = SearchRequest(q, None, video_id, t_min, t_max, threshold, limit, mode)
        return run_search(_state(request), req)

    @app.post("/search")
    def search_post(request: Request, body: SearchBody) -> dict[str, Any]:
        return run_search(_state(request), body.request(body.q, body.vector))

    @app.get("/videos")
    def videos(request: Request) -> dict[str, Any]:
        records = _state(request).store.list_videos()
        return {"count": len(records), "videos": [r.to_payload() for r in records]}

    @app.post("/videos/{video_id:path}/results", status_code=201)
    async def upload_results(
        request: Request, video_id: str, fps: float | None = None, model: str = ROBOFLOW_CLIP_MODEL
    ) -> dict[str, Any]:
        data = await _results_body(request)
        parsed = parse_results(data, where=f"results upload for {video_id!r}")
        record = ingest_results(_state(request).store, parsed, video_id, fps=fps, model=model, source="results")
        return {"video": record.to_payload(), "frames": record.frames, "skipped": parsed.skipped}

    @app.get("/videos/{video_id:path}")
    def video(request: Request, video_id: str) -> dict[str, Any]:
        return _record_dict(_state(request), video_id)

    @app.delete("/videos/{video_id:path}")
    def delete_video(request: Request, video_id: str) -> dict[str, Any]:
        deleted = _state(request).store.delete_video(video_id)
        return {"video_id": video_id, "deleted_frames": deleted}

    return app


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
