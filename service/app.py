"""The HTTP app (FastAPI): assembles the routers, opens the store for the app's lifetime, translates errors once.

Who may call what is decided before routing by service.security's middleware (API keys, browser checks, body
limits). Every error answer is `{"error": CODE, "detail": TEXT}`: domain errors with their status, FastAPI's
validation errors as 422 InvalidInput (naming the fields, never echoing values, which may be NaN),
unknown routes and methods as 404/405, a full disk as 507 DiskFull and a read-only one as 503
StoreReadOnly wherever it happens (an upload, the thumbnail cache), and anything unexpected as a
logged 500 InternalError.
"""

from __future__ import annotations

import errno
import logging
import re
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from framesearch import __version__
from framesearch.errors import DiskFull, FrameSearchError, StoreReadOnly
from framesearch.service.alert_delivery import alerting
from framesearch.service.alerts_api import router as alerts_router
from framesearch.service.api import router as api_router
from framesearch.service.background import IndexBuilder
from framesearch.service.jobs_api import router as jobs_router
from framesearch.service.jobs_api import start_jobs
from framesearch.service.security import AccessGuard, Public, document_security
from framesearch.service.security import router as access_router
from framesearch.service.state import AppState
from framesearch.service.store_api import router as store_router
from framesearch.service.streams import StreamManager
from framesearch.service.streams_api import router as streams_router
from framesearch.service.watch import start_watching
from framesearch.service.web import STATIC_DIR
from framesearch.service.web import router as web_router
from framesearch.settings import Settings
from framesearch.store.address import remove_address, write_address
from framesearch.store.base import VectorStore
from framesearch.store.open import open_store
from framesearch.validation import describe

log = logging.getLogger(__name__)
DOCS_URL, REDOC_URL = "/docs", "/redoc"
OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
MAX_DETAIL = 2000  # characters of an error's detail: a message quoting a hostile value stays an answer, not a flood
HTTP_CODES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def error_answer(status: int, code: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def plain(text: str) -> str:
    """A message without Python object reprs (`<_io.BytesIO object at 0x7f...>`), which mean nothing to people."""
    return OBJECT_REPR.sub("the data", text)


def public(request: Request, text: str) -> str:
    """What a client may read of a message: no object reprs, no server paths (service/redact.py)."""
    state = getattr(request.app.state, "framesearch", None)
    text = plain(state.paths.scrub(text) if state is not None else text)
    return text if len(text) <= MAX_DETAIL else f"{text[: MAX_DETAIL - 40]}… ({len(text) - MAX_DETAIL + 40} more characters)"


async def domain_error(request: Request, exc: FrameSearchError) -> JSONResponse:
    return error_answer(exc.http_status, exc.code, public(request, str(exc)))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_answer(422, "InvalidInput", describe(list(exc.errors())))


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "InvalidInput" if exc.status_code < 500 else "InternalError")
    return error_answer(exc.status_code, code, public(request, str(exc.detail)), getattr(exc, "headers", None))


async def os_error(request: Request, exc: OSError) -> JSONResponse:
    """A full or read-only disk outside the store's own checks is the operator's problem, not a crash."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return await domain_error(request, DiskFull("the server's disk is full; nothing more was written"))
    if exc.errno == errno.EROFS:
        return await domain_error(request, StoreReadOnly("the server's data folder is on a read-only filesystem"))
    return await unexpected_error(request, exc)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_answer(500, "InternalError", "the service failed unexpectedly; the log has the details")


def create_app(
    settings: Settings,
    store: VectorStore | None = None,
    *,
    close_store: bool = False,
    announce: str | None = None,
    watch: list[Path] | None = None,
    prune: bool = False,
) -> FastAPI:
    """The app; opens the store named by `settings` (or uses `store`) for its lifetime. `close_store`: close the
    given store at shutdown too (uvicorn re-raises SIGTERM once it has shut down: code after it never runs).
    `announce`: the URL this app answers at, recorded beside an Edge store while it runs (store/address.py), so
    that the CLI talks to it. `watch`: folders whose new and changed videos are indexed as they appear (with
    `prune`, deleted ones leave the library)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = store or open_store(settings)
        indexer = IndexBuilder(opened).start()
        indexer.request()  # frames a crash left unindexed get their index now
        app.state.framesearch = state = AppState(settings, opened, indexer)
        watching = ExitStack()
        watching.enter_context(alerting(opened, settings, state.embedder))  # standing searches hear of every commit
        app.state.jobs = start_jobs(settings, opened, state.image_embedder, after_ingest=indexer.request)
        app.state.streams = StreamManager(settings, opened, state.image_embedder, on_commit=indexer.request).start()
        watcher = start_watching(watch, app.state.jobs, opened, prune) if watch else None
        announced = announce is not None and not settings.qdrant_url
        if announced:
            try:
                write_address(settings.store, str(announce), settings.collection)
            except OSError as exc:  # a read-only or full disk: the service still serves; commands cannot find it
                announced = False
                log.warning(
                    "cannot record this service's address beside the library (%s): other commands will not find it", exc.strerror
                )
        try:
            yield
        finally:
            if announced:
                remove_address(settings.store)
            if watcher is not None:
                watcher.stop()
            app.state.streams.stop()
            app.state.jobs.stop()
            watching.close()
            app.state.framesearch.close()
            state.parser.stop()
            indexer.stop()
            if store is None or close_store:
                opened.close()

    # FastAPIOffline serves the /docs and /redoc assets itself (FastAPI's default pulls them from a CDN).
    # Handlers by exception class, given to the constructor (its type takes handlers of a narrower exception).
    handlers = {
        FrameSearchError: domain_error,
        RequestValidationError: validation_error,
        HTTPException: http_error,
        OSError: os_error,
        Exception: unexpected_error,
    }
    app = FastAPIOffline(
        docs_url=DOCS_URL,
        redoc_url=REDOC_URL,
        title="framesearch",
        version=__version__,
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    # The page and media routes go first: /videos/{id}/thumbnail and /file must precede the greedy GET /videos/{id}.
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(jobs_router)
    app.include_router(streams_router)
    app.include_router(access_router)
    app.include_router(store_router)
    app.include_router(alerts_router)
    app.include_router(api_router)
    # Keys, browser checks and body limits for every route, before any body is read (service/security.py).
    public = Public.of(app, docs=(DOCS_URL, REDOC_URL))
    app.add_middleware(AccessGuard, settings=settings, public=public)
    document_security(app, public)
    return app


def app_from_env() -> FastAPI:
    """The app of one worker process of `serve --workers N`: settings from the environment, its own store client."""
    return create_app(Settings())
