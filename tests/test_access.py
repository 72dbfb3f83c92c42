"""Who may call the service: API keys (full and read-only), the browser Origin and host checks, media cookies,
the loopback-only default of `serve`, and the OpenAPI description of all of it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app as cli_app
from framesearch.service.app import create_app
from framesearch.service.security import MEDIA_COOKIE, media_token
from framesearch.settings import Settings
from tests.helpers.server import running_service

FULL, READ = "full-key-3c9f1e", "read-key-77ab02"
AUTH = {"Authorization": f"Bearer {FULL}"}
RESULTS = {
    "frame_offset": [0, 12],
    "time_offset": [0.0, 0.5],
    "clip": [{"embeddings": [[1.0, 0.0, 0.5]]}] * 2,
    "framesearch": {"model": "clip/access-test"},
}  # 3-d stand-ins: named so, not taken for ViT-B
# Everything anyone may fetch without a key: health, the page and its assets, the API's own description.
PUBLIC_ROUTES = {"/", "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static", "/static-offline-docs"}


def client_for(tmp_path: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(store=tmp_path / "store", **settings)))


@pytest.fixture
def keyed(tmp_path):
    with client_for(tmp_path, api_key=FULL, read_api_key=READ) as client:
        yield client


def all_routes(routes) -> list:
    """Every route of the app, however FastAPI nests included routers."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found += all_routes(inner.routes) if inner is not None else [route]
    return found


def requests_for(app) -> list[tuple[str, str, str]]:
    """(route path, method, a concrete URL) for every method of every route, static mounts included."""
    wanted = []
    for route in all_routes(app.routes):
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        url = re.sub(r"\{[^}]+\}", "some-id", path) if getattr(route, "methods", None) else f"{path}/app.js"
        if path == "/alerts/events":  # a server-sent event stream stays open: ask for the events as one answer
            url += "?stream=false"
        wanted += [(path, method, url) for method in methods]
    return wanted


def test_every_route_but_the_public_ones_needs_the_key(keyed):
    """Routes anyone adds later are covered too: this walks the app's routes, it does not list them."""
    routes = requests_for(keyed.app)
    assert {path for path, _, _ in routes} >= {"/search", "/jobs", "/videos/{video_id:path}", "/session"}
    open_without_key = set()
    for path, method, url in routes:
        answer = keyed.request(method, url)
        if answer.status_code != 401:
            open_without_key.add(path)
        else:
            assert answer.json()["error"] == "Unauthorized" and answer.headers["www-authenticate"] == "Bearer"
            assert keyed.request(method, url, headers=AUTH).status_code != 401, (method, url)
    assert open_without_key == PUBLIC_ROUTES


@pytest.mark.parametrize(
    "headers", [{"Authorization": f"Bearer {FULL}"}, {"X-API-Key": FULL}, {"authorization": f"bearer   {FULL} "}]
)
def test_the_key_goes_in_a_bearer_or_an_x_api_key_header(keyed, headers):
    assert keyed.get("/videos", headers=headers).status_code == 200
    assert keyed.post("/videos/a/results", json=RESULTS, headers=headers).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": FULL[:-1]},
        {"Authorization": FULL},
        {"Authorization": f"Basic {FULL}"},
    ],
)
def test_no_key_or_a_wrong_one_is_401(keyed, headers):
    for method, url in (("GET", "/videos"), ("GET", "/search?q=red"), ("DELETE", "/videos/a"), ("GET", "/jobs")):
        answer = keyed.request(method, url, headers=headers)
        assert answer.status_code == 401 and set(answer.json()) == {"error", "detail"}
        assert FULL not in answer.text and READ not in answer.text


def test_the_read_key_searches_lists_and_watches_but_never_writes(keyed):
    assert keyed.post("/videos/a/results", json=RESULTS, headers=AUTH).status_code == 201
    read = {"X-API-Key": READ}
    assert keyed.get("/videos", headers=read).json()["count"] == 1
    assert keyed.get("/videos/a", headers=read).status_code == 200
    assert keyed.post("/search", json={"vector": [1, 0, 0.5]}, headers=read).json()["count"] == 1
    assert keyed.post("/search/similar", json={"like": {"video_id": "a", "frame": 0}}, headers=read).status_code == 200
    assert keyed.get("/videos/a/thumbnail", headers=read).json()["error"] == "VideoFileUnavailable"  # let through
    for method, url, kwargs in [
        ("DELETE", "/videos/a", {}),
        ("POST", "/videos/b/results", {"json": RESULTS}),
        ("POST", "/jobs", {"json": {"url": "https://example.com/v.mp4"}}),
    ]:
        answer = keyed.request(method, url, headers=read, **kwargs)
        assert answer.status_code == 403 and answer.json()["error"] == "Forbidden", (method, url)
        assert "FRAMESEARCH_API_KEY" in answer.json()["detail"]
    assert keyed.get("/videos", headers=read).json()["count"] == 1 and keyed.get("/jobs", headers=AUTH).json()["count"] == 0


def test_with_only_a_read_key_the_service_is_read_only(tmp_path):
    with client_for(tmp_path, read_api_key=READ) as client:
        assert client.get("/videos").status_code == 401
        assert client.get("/videos", headers={"X-API-Key": READ}).status_code == 200
        answer = client.post("/videos/a/results", json=RESULTS, headers={"X-API-Key": READ})
        assert answer.status_code == 403 and "read-only" in answer.json()["detail"]


def test_health_stays_open(keyed):
    assert keyed.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:9999", "null", "http://testserver.evil"])
def test_a_page_of_another_site_cannot_make_a_browser_write(tmp_path, origin):
    """The attack: a page elsewhere posts an upload to the loopback service the visitor runs (no key needed)."""
    with client_for(tmp_path) as client:
        answer = client.post("/videos/a/results", json=RESULTS, headers={"Origin": origin})
        assert answer.status_code == 403 and answer.json()["error"] == "Forbidden"
        assert client.delete("/videos/a", headers={"Origin": origin}).status_code == 403
        assert client.post("/jobs", json={"url": "https://example.com/v.mp4"}, headers={"Origin": origin}).status_code == 403
        cross_site = client.post("/videos/a/results", json=RESULTS, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.status_code == 403
        assert client.get("/videos").json()["count"] == 0 and client.get("/jobs").json()["count"] == 0


SEARCH = {"vector": [1.0, 0.0, 0.5], "threshold": -1}


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_a_foreign_search_is_refused_as_a_read_not_as_a_change(tmp_path, origin):
    """A search changes nothing: refused because cross-site reads are not configured, and the answer says so."""
    with client_for(tmp_path) as client:
        assert client.post("/videos/a/results", json=RESULTS).status_code == 201
        refused = client.post("/search", json=SEARCH, headers={"Origin": origin})
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        detail = refused.json()["detail"]
        assert "may not search this service" in detail and "FRAMESEARCH_CORS_ORIGINS" in detail and "may not change" not in detail
        assert "access-control-allow-origin" not in refused.headers
        write = client.delete("/videos/a", headers={"Origin": origin}).json()["detail"]
        assert "may not change this service" in write and "uploads, deletes and jobs" in write
        assert client.post("/search", json=SEARCH).status_code == 200  # not a browser: no Origin, no cross-site rule


def test_configured_origins_may_search_and_read_cross_site_but_never_write(tmp_path):
    page = "https://app.example.com"
    with client_for(tmp_path, api_key=FULL, cors_origins=[page, "https://other.example"]) as client:
        assert client.post("/videos/a/results", json=RESULTS, headers=AUTH).status_code == 201
        preflight = client.options(
            "/search",
            headers={"Origin": page, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        )
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == page
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        found = client.post("/search", json=SEARCH, headers={"Origin": page, **AUTH})
        assert found.status_code == 200 and found.json()["count"] == 1
        assert found.headers["access-control-allow-origin"] == page and "Origin" in found.headers["vary"]
        listed = client.get("/videos", headers={"Origin": page, **AUTH})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == page
        assert client.post("/search", json=SEARCH, headers={"Origin": page}).status_code == 401  # still needs the key
        write = client.delete("/videos/a", headers={"Origin": page, **AUTH})
        assert write.status_code == 403 and "may not change this service" in write.json()["detail"]
        foreign = client.post("/search", json=SEARCH, headers={"Origin": "https://evil.example", **AUTH})
        assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
        unlisted = client.options("/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in unlisted.headers
    anywhere = TestClient(create_app(Settings(store=tmp_path / "any", cors_origins="*")), base_url="http://127.0.0.1:8000")
    with anywhere as client:  # the env form (comma-separated; `*` for any page), on a keyless loopback service
        assert client.post("/search", json=SEARCH, headers={"Origin": "https://anywhere.example"}).status_code == 200


def test_the_page_itself_and_clients_without_an_origin_may_write(tmp_path, keyed):
    client = TestClient(create_app(Settings(store=tmp_path / "anonymous")), base_url="http://127.0.0.1:8000")
    with client:
        own = {"Origin": "http://127.0.0.1:8000"}
        assert client.post("/videos/a/results", json=RESULTS, headers=own).status_code == 201
        assert client.post("/videos/b/results", json=RESULTS).status_code == 201
        assert client.get("/videos", headers={"Origin": "https://evil.example"}).status_code == 200  # reads: CORS decides
    own_name = {"Origin": "http://testserver", **AUTH}  # with a key, a host name is fine
    assert keyed.post("/videos/a/results", json=RESULTS, headers=own_name).status_code == 201


def test_without_a_key_browsers_must_name_the_loopback_service_by_address(tmp_path):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 is same-origin with itself."""
    with client_for(tmp_path) as client:
        rebinding = {"Host": "evil.example:8000", "Sec-Fetch-Site": "same-origin"}
        answer = client.get("/videos", headers=rebinding)
        assert answer.status_code == 403 and "FRAMESEARCH_API_KEY" in answer.json()["detail"]
        origin = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
        assert client.post("/videos/a/results", json=RESULTS, headers=origin).status_code == 403
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            assert client.get("/videos", headers={"Host": host, "Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert client.get("/videos", headers={"Host": "evil.example"}).status_code == 200  # not a browser: no guard


def test_a_media_session_cookie_lets_thumbnails_and_videos_through_and_nothing_else(keyed):
    assert keyed.post("/session").status_code == 401
    started = keyed.post("/session", headers={"X-API-Key": READ})
    assert started.status_code == 204
    cookie = started.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/videos", "Max-Age=3600"):
        assert attribute.lower() in cookie.lower()
    token = started.cookies[MEDIA_COOKIE]
    keyed.cookies.clear()
    with_cookie = {"Cookie": f"{MEDIA_COOKIE}={token}"}
    for media in ("/videos/a/thumbnail?t=1", "/videos/a/file", "/videos/a/play"):
        assert keyed.get(media, headers=with_cookie).json()["error"] == "NotFound"  # through the guard: no such video
    assert keyed.get("/videos", headers=with_cookie).status_code == 401
    assert keyed.get("/videos/a", headers=with_cookie).status_code == 401
    expired = media_token(FULL, now=time.time() - 7200)
    forged = f"{int(time.time()) + 3600}.{'0' * 64}"
    for bad in (expired, forged, "junk", token + "0"):
        assert keyed.get("/videos/a/file", headers={"Cookie": f"{MEDIA_COOKIE}={bad}"}).status_code == 401


def test_openapi_documents_the_keys(keyed):
    spec = keyed.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    for path, method, access in [
        ("/search", "post", "read"),
        ("/videos", "get", "read"),
        ("/videos/{video_id}", "delete", "write"),
        ("/jobs", "post", "write"),
    ]:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}] and operation["x-access"] == access
        assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorAnswer")


# ---- serve: loopback only without a key -----------------------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_beyond_loopback_without_a_key_exits_naming_the_variable(tmp_path, host):
    result = runner.invoke(
        cli_app,
        ["serve", "--store", str(tmp_path / "s"), "--host", host],
        env={"FRAMESEARCH_API_KEY": "", "FRAMESEARCH_READ_API_KEY": ""},
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "FRAMESEARCH_API_KEY" in lines[0]
    assert "--allow-anonymous" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()  # refused before anything was opened


def test_allow_anonymous_overrides_loudly(tmp_path):
    not_a_store = tmp_path / "file"
    not_a_store.write_text("x")  # the store then fails to open: the command ends right after its warning
    result = runner.invoke(
        cli_app, ["serve", "--store", str(not_a_store), "--host", "0.0.0.0", "--allow-anonymous"], env={"FRAMESEARCH_API_KEY": ""}
    )
    assert "WARNING" in result.output and "WITHOUT an API key" in result.output
    assert "refusing to listen" not in result.output


@pytest.mark.slow
def test_a_keyed_service_listens_on_every_interface_and_guards_them(tmp_path):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "s"), "FRAMESEARCH_API_KEY": FULL}
    with running_service(env, tmp_path / "log") as service:  # loopback first, to know the port is free
        port = service.port
    service.host, service.base = "0.0.0.0", f"http://127.0.0.1:{port}"
    service.start()
    try:
        assert httpx.get(f"{service.base}/healthz").status_code == 200
        assert httpx.get(f"{service.base}/videos").status_code == 401
        assert httpx.get(f"{service.base}/videos", headers=AUTH).status_code == 200
    finally:
        service.stop()
