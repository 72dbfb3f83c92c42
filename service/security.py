"""Who may call the service, and with how much: API keys, the browser checks, media cookies and body limits.

One ASGI middleware (`AccessGuard`) decides every request before any of its body is read, so every route,
including routes added later, is covered without being marked:

- public: `/healthz`, the page, its static assets and the OpenAPI docs; everything else needs a key when the
  service has one (`Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in constant time): 401 without.
- read (the read-only key suffices): GET/HEAD, and the search POSTs in READ_POSTS; every other method writes,
  and a read-only key writing answers 403.
- browsers, by effect: a page of another site (its `Origin` is not this service's) may never change the service
  (403: a page elsewhere must not upload to a loopback service); it may read (the search POSTs, and GETs whose
  answers it can see) only when its origin is in `cors_origins` (FRAMESEARCH_CORS_ORIGINS), which also get the
  CORS headers and preflight answers; other foreign search POSTs answer 403 saying so. Without a key, browser
  requests must name the host as localhost or an address (a DNS-rebinding guard).
- media: `<img>` and `<video>` cannot send headers, so POST /session sets a short-lived HttpOnly, SameSite=Strict
  cookie scoped to /videos that lets GET of thumbnails and video files through (a key in the URL would leak into
  logs and history; fetching media as blobs would download whole videos before playing).
- bodies: uploads (see body_limit) may be `max_upload_mb`, any other body SMALL_BODY; counted while they stream,
  413 past the limit. Starlette's RequestBodyLimitMiddleware has one limit and answers plain text, hence this.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framesearch.search.images import MAX_IMAGE_BYTES
from framesearch.service.listen import check_binding, is_loopback  # noqa: F401  (the bind rules, kept light for `serve`)
from framesearch.service.state import app_state
from framesearch.service.uploads import FORM_SLACK, MB
from framesearch.settings import Settings

PUBLIC, READ, WRITE = "public", "read", "write"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = frozenset({"/search", "/search/image", "/search/similar", "/session"})
CROSS_SITE_READS = READ_POSTS - {"/session"}  # a media cookie is for the service's own page only
CORS_METHODS = "GET, HEAD, POST"
CORS_HEADERS = "Authorization, X-API-Key, Content-Type"
CORS_MAX_AGE = "600"
PUBLIC_PATHS = frozenset({"/", "/healthz"})
MEDIA_SUFFIXES = ("/thumbnail", "/file", "/play")
MEDIA_COOKIE = "framesearch_media"
MEDIA_TTL_S = 3600
SMALL_BODY = MB
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer KEY`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def body_limit(method: str, path: str, max_upload_mb: int) -> tuple[int, int]:
    """The most bytes a request body may have, and the allowance for multipart headers on top: uploads (videos,
    results JSON, images) `max_upload_mb` (query images no more than MAX_IMAGE_BYTES), other bodies SMALL_BODY."""
    upload = max_upload_mb * MB
    if method == "POST" and path == "/search/image":
        return min(upload, MAX_IMAGE_BYTES), FORM_SLACK
    if method == "POST" and (path == "/jobs" or (path.startswith("/videos/") and path.endswith("/results"))):
        return upload, FORM_SLACK
    return SMALL_BODY, 0


@dataclass(frozen=True)
class Public:
    """What anyone may fetch: exact paths, and the folders of static files (the page's assets, the docs')."""

    paths: frozenset[str] = PUBLIC_PATHS
    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, app: Any, docs: tuple[str, ...] = ()) -> Public:
        """The app's public paths: PUBLIC_PATHS, its OpenAPI document, the `docs` pages and its StaticFiles mounts."""
        docs += (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
        mounts = tuple(f"{r.path}/" for r in app.routes if isinstance(r, Mount) and isinstance(r.app, StaticFiles))
        return cls(PUBLIC_PATHS | {url for url in docs if url}, mounts)

    def __contains__(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.prefixes)


def access_level(method: str, path: str, public: Public = Public()) -> str:
    """PUBLIC, READ or WRITE: what a request (or an OpenAPI operation) needs."""
    if path in public:
        return PUBLIC
    if method in SAFE_METHODS or (method == "POST" and path in READ_POSTS):
        return READ
    return WRITE


def presented_key(headers: Headers) -> str | None:
    """The key a request carries: `Authorization: Bearer KEY`, else `X-API-Key: KEY`."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def shows_details(settings: Settings, headers: Headers) -> bool:
    """Whether a caller of a public route may see more than "up": any caller of a service without keys (they may
    read everything anyway), else one presenting either key."""
    full, read = settings.api_keys()
    if not (full or read):
        return True
    key = presented_key(headers)
    return key is not None and (_same(key, full) or _same(key, read))


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def _signature(secret: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"framesearch-media:{expires}".encode(), hashlib.sha256).hexdigest()


def media_token(secret: str, now: float | None = None) -> str:
    """A cookie value that lets media through until it expires (MEDIA_TTL_S)."""
    expires = int((now or time.time()) + MEDIA_TTL_S)
    return f"{expires}.{_signature(secret, expires)}"


def media_token_valid(token: str, secret: str, now: float | None = None) -> bool:
    expires, _, signature = token.partition(".")
    if not expires.isdigit() or len(expires) > 12:
        return False
    expected = _signature(secret, int(expires))
    return int(expires) > (now or time.time()) and hmac.compare_digest(signature.encode(), expected.encode())


class TooLarge(HTTPException):
    """A body past its limit: raised from `receive`, answered 413 by the app's HTTP error handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {limit / MB:g} MB")


def _deny(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


class AccessGuard:
    """The ASGI middleware that applies the rules of this module to every HTTP request."""

    def __init__(self, app: ASGIApp, settings: Settings, public: Public = Public()) -> None:
        self.app, self.settings, self.public = app, settings, public
        self.full_key, self.read_key = settings.api_keys()
        self.anonymous = not (self.full_key or self.read_key)
        self.loopback_only = self.anonymous and is_loopback(settings.host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = self._allowed_origin(headers)
        if origin is not None and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin)(scope, receive, send)  # browsers send no key with a preflight
            return
        denied = self.check(scope["method"], scope["path"], headers)
        if denied is None:
            limit = body_limit(scope["method"], scope["path"], self.settings.max_upload_mb)
            denied = self._declared_too_large(headers, limit)
        send = _with_cors(send, origin) if origin is not None else send
        if denied is not None:
            await denied(scope, receive, send)
            return
        await self.app(scope, self._limited(receive, limit), send)

    def _allowed_origin(self, headers: Headers) -> str | None:
        """The request's Origin when FRAMESEARCH_CORS_ORIGINS lets its pages read this service."""
        origin = headers.get("origin", "").lower().rstrip("/")
        allowed = self.settings.cors_origins
        return origin if origin and origin != "null" and (origin in allowed or "*" in allowed) else None

    @staticmethod
    def _preflight(origin: str) -> Response:
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": CORS_MAX_AGE,
                "Vary": "Origin",
            },
        )

    def check(self, method: str, path: str, headers: Headers) -> JSONResponse | None:
        """The answer refusing this request, or None to let it through."""
        level = access_level(method, path, self.public)
        foreign = self._foreign_browser(method, path, headers)
        if foreign:
            return _deny(403, "Forbidden", foreign)
        if level == PUBLIC:
            return None
        granted = self._granted(method, path, headers)
        if granted is None:
            detail = "this service needs an API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
            if presented_key(headers):
                detail = "the API key is not valid for this service"
            return _deny(401, "Unauthorized", detail, {"WWW-Authenticate": "Bearer"})
        if level == WRITE and granted == READ:
            detail = "this key may search, list and watch only; changes need the key in FRAMESEARCH_API_KEY"
            if self.full_key is None:
                detail = "this service is read-only: it has no FRAMESEARCH_API_KEY, so nobody may change the library"
            return _deny(403, "Forbidden", detail)
        return None

    def _granted(self, method: str, path: str, headers: Headers) -> str | None:
        """WRITE, READ or None: what the request's credentials allow."""
        if self.anonymous:
            return WRITE
        key = presented_key(headers)
        if key is not None:
            full, read = _same(key, self.full_key), _same(key, self.read_key)
            return WRITE if full else READ if read else None
        if method in ("GET", "HEAD") and path.startswith("/videos/") and path.endswith(MEDIA_SUFFIXES):
            token = _cookie(headers, MEDIA_COOKIE)
            if token and media_token_valid(token, media_secret(self.settings)):
                return READ
        return None

    def _foreign_browser(self, method: str, path: str, headers: Headers) -> str | None:
        """Why a browser request must be refused: a cross-site write, a cross-site search from an origin not
        allowed to read, or a name that may be DNS rebinding."""
        host = headers.get("host", "").lower()
        origin = headers.get("origin")
        if method not in SAFE_METHODS:
            foreign = origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host)
            refused = None
            if foreign or (origin is None and headers.get("sec-fetch-site") == "cross-site"):
                refused = self._cross_site(method, path, origin, headers)
            if refused:
                return refused
        from_browser = origin is not None or "sec-fetch-site" in headers
        if self.loopback_only and from_browser and not _local_name(host):
            return (
                "without an API key, browsers may reach this service only as localhost or by its address "
                f"(not as {host.split(':')[0]!r}): set FRAMESEARCH_API_KEY to serve under a host name"
            )
        return None

    def _cross_site(self, method: str, path: str, origin: str | None, headers: Headers) -> str | None:
        """What a page of another site may not do here: change anything, ever; search unless its origin is allowed."""
        page = f"a page of another site ({origin})" if origin else "a page of another site"
        if method == "POST" and path in CROSS_SITE_READS:
            if self._allowed_origin(headers) is not None:
                return None
            return (
                f"{page} may not search this service: cross-site reads are allowed only from the origins listed "
                "in FRAMESEARCH_CORS_ORIGINS (a search changes nothing, but its results are the library's)"
            )
        return (
            f"{page} may not change this service: uploads, deletes and jobs are accepted only from its own page "
            "or from clients that are not browsers"
        )

    @staticmethod
    def _declared_too_large(headers: Headers, limit: tuple[int, int]) -> JSONResponse | None:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > sum(limit):
            return _deny(413, "PayloadTooLarge", TooLarge(limit[0]).detail)
        return None

    @staticmethod
    def _limited(receive: Receive, limit: tuple[int, int]) -> Callable[[], Any]:
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > sum(limit):
                    raise TooLarge(limit[0])
            return message

        return receive_limited


def _with_cors(send: Send, origin: str) -> Send:
    """`send` adding the CORS headers that let a page of an allowed origin read the answer."""

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["Access-Control-Allow-Origin"] = origin
            headers.add_vary_header("Origin")
        await send(message)

    return send_with_cors


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _local_name(host_header: str) -> bool:
    name = urlsplit(f"//{host_header}").hostname or ""
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def media_secret(settings: Settings) -> str:
    """What media cookies are signed with: a key of the service (so they end when it changes)."""
    full, read = settings.api_keys()
    return full or read or ""


def document_security(app: Any, public: Public) -> None:
    """Describe the keys in the app's OpenAPI: the two schemes, and per operation whether one is needed."""
    original = app.openapi
    denied = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {})["securitySchemes"] = SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                level = access_level(method.upper(), path, public)
                if level == PUBLIC:
                    operation["security"] = []
                    continue
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                operation["x-access"] = level
                responses = operation.setdefault("responses", {})
                responses.setdefault("401", {"description": "No API key, or a wrong one", **denied})
                responses.setdefault("403", {"description": "Not allowed (a read-only key, or a foreign page)", **denied})
        return schema

    app.openapi = openapi


router = APIRouter(tags=["access"])


@router.post("/session", status_code=204, response_class=Response)
def media_session(request: Request) -> Response:
    """Let this browser load thumbnails and play videos for an hour: sets an HttpOnly cookie scoped to /videos
    (media elements cannot send the key). Needs a key when the service has one; without keys it does nothing."""
    secret = media_secret(app_state(request).settings)
    response = Response(status_code=204)
    if secret:
        response.set_cookie(
            MEDIA_COOKIE,
            media_token(secret),
            max_age=MEDIA_TTL_S,
            path="/videos",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response
