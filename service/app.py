"""The HTTP app (FastAPI): assembles the routers, opens the store for the app's lifetime, maps domain errors."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from framesearch import __version__
from framesearch.errors import FrameSearchError
from framesearch.settings import Settings
from framesearch.service.api import router as api_router
from framesearch.service.jobs_api import router as jobs_router
from framesearch.service.jobs_api import start_jobs
from framesearch.service.state import AppState
from framesearch.service.web import STATIC_DIR
from framesearch.service.web import router as web_router
from framesearch.store.base import VectorStore
from framesearch.store.open import open_store


async def domain_error(request: Request, exc: FrameSearchError) -> JSONResponse:
    """Every domain error becomes one JSON answer with the error's status (4xx for bad input)."""
    return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.http_status)


def create_app(settings: Settings, store: VectorStore | None = None) -> FastAPI:
    """The app; opens the store named by `settings` (or uses `store`) for its lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = store or open_store(settings)
        app.state.framesearch = AppState(settings, opened)
        app.state.jobs = start_jobs(settings, opened, app.state.framesearch.image_embedder)
        try:
            yield
        finally:
            app.state.jobs.stop()
            if store is None:
                opened.close()

    # FastAPIOffline serves the /docs and /redoc assets itself (FastAPI's default pulls them from a CDN).
    app = FastAPIOffline(title="framesearch", version=__version__, lifespan=lifespan)
    app.add_exception_handler(FrameSearchError, domain_error)
    # The page and media routes go first: /videos/{id}/thumbnail and /file must precede the greedy GET /videos/{id}.
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(jobs_router)
    app.include_router(api_router)
    return app
