"""The `framesearch` entry point, and its thin client: read commands answered by a running service, at little cost.

`videos list`, `store info` and `search` (table or csv/vtt/edl output) need nothing of the engine while
`framesearch serve` holds the store: the command sends the request and prints the answer. Typer, pydantic(-settings),
httpx and numpy cost 3-4x a whole request to import on a small machine (docs/performance.md), so this module
reads those commands' options with the standard library, asks the service with http.client and prints through
cli/render.py, as the full CLI does. Everything else runs the full Typer app: another command or option, `--json`,
`--help`, no live service, any answer but a good one (the app then prints the same answer or the error, with its
hint). Written by hand because no parser lighter than Click reads Typer's option syntax; it takes a strict subset.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framesearch.errors import InvalidInput

TIMEOUT_S = 30.0
PAGE = 1000  # videos asked per page (the service's largest page)
COMMON = {"--store": str, "--collection": str, "--url": str}  # options every read command (and the app) takes
VIDEOS = {"--limit": int, "--match": str, "--under": str, "--sort": str}
SEARCH = {
    "--vector-file": str,
    "--video-id": str,
    "--under": str,
    "--threshold": float,
    "--min-confidence": float,
    "--not": str,
    "--then": str,
    "--within": float,
    "--format": str,
    "--limit": int,
    "--cursor": str,
    "--mode": str,
    "--from": float,
    "--to": float,
}
REPEATED = {"--video-id", "--not"}
FLAGS = {"--frames"}
SEARCH_FIELDS = {  # option -> SearchRequest field
    "--video-id": "video_id",
    "--under": "under",
    "--threshold": "threshold",
    "--min-confidence": "min_confidence",
    "--not": "not",
    "--then": "then",
    "--within": "within",
    "--format": "format",
    "--limit": "limit",
    "--cursor": "cursor",
    "--mode": "mode",
    "--from": "t_min",
    "--to": "t_max",
}


class NotThin(Exception):
    """This call is the full app's to answer."""


def main() -> None:
    """The console script: the thin client where it can answer, else the full app."""
    try:
        code = thin(sys.argv[1:])
    except NotThin:
        from framesearch.cli.full import app

        app(prog_name="framesearch")
    else:
        sys.exit(code)


def thin(argv: list[str]) -> int:
    """Answer a read command through the service that holds its store; NotThin where this module cannot."""
    words, options = parse(argv)
    if words == ["videos", "list"]:
        return videos_list(_service(options, set(VIDEOS)), options)
    if words == ["store", "info"]:
        service = _service(options, set())
        from framesearch.cli import render

        render.print_store_info(_answer(service.get("/store")))
        return 0
    if words[:1] == ["search"] and len(words) <= 2:
        return search(_service(options, {*SEARCH, *FLAGS}), words[1] if len(words) == 2 else None, options)
    raise NotThin


def parse(argv: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """The words and the options of a command line (each option's values in order, typed); NotThin for
    anything outside the subset (a short option, `--`, an unknown option, a value that does not convert)."""
    kinds: dict[str, Callable[[str], Any]] = {**COMMON, **VIDEOS, **SEARCH}
    words: list[str] = []
    options: dict[str, list[Any]] = {}
    tokens = iter(argv)
    for token in tokens:
        if not token.startswith("-") or token == "-":
            words.append(token)
            continue
        name, eq, value = token.partition("=")
        if name in FLAGS and not eq:
            options.setdefault(name, []).append(True)
            continue
        if name not in kinds:
            raise NotThin
        if not eq:
            value = next(tokens, None)
            if value is None:
                raise NotThin
        try:
            typed = kinds[name](value)
        except ValueError:
            raise NotThin from None
        if isinstance(typed, float) and not math.isfinite(typed):
            raise NotThin
        options.setdefault(name, []).append(typed)
    return words, options


class Service:
    """The service's address and key, and one GET or POST with the standard library's HTTP client."""

    def __init__(self, url: str, key: str | None) -> None:
        from urllib.parse import urlsplit

        self.url = urlsplit(url)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        from urllib.parse import urlencode

        return self._send("GET", f"{path}?{urlencode(params)}" if params else path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, json.dumps(body).encode())

    def _send(self, method: str, path: str, body: bytes | None) -> Any:
        import http.client

        kind = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
        if self.url.scheme not in ("http", "https") or not self.url.hostname:
            raise NotThin
        base = self.url.path.rstrip("/")
        connection = kind(self.url.hostname, self.url.port, timeout=TIMEOUT_S)
        headers = {**self.headers, **({"Content-Type": "application/json"} if body is not None else {})}
        try:
            connection.request(method, base + path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            raise NotThin from None  # the full app pings, waits for a starting service, or opens the store
        finally:
            connection.close()
        if response.status != 200:
            raise NotThin  # the full app asks again and prints the error with its hint
        return data, response.getheader("content-type", "")


def _answer(sent: tuple[bytes, str]) -> Any:
    data, kind = sent
    if not kind.startswith("application/json"):
        raise NotThin
    try:
        return json.loads(data)
    except ValueError:
        raise NotThin from None


def _service(options: dict[str, list[Any]], own: set[str]) -> Service:
    """The live service of the store the options and FRAMESEARCH_* name; NotThin if there is none or the
    options are not this command's."""
    if any(name not in COMMON and name not in own for name in options):
        raise NotThin
    if _env("QDRANT_URL"):  # a Qdrant server: the full app opens it directly
        raise NotThin
    url = _last(options, "--url") or _env("URL")
    if not url:
        collection = _last(options, "--collection") or _env("COLLECTION") or "frames"
        url = _recorded(_last(options, "--store") or _env("STORE"), collection)
    key = (_env("API_KEY") or "").strip() or (_env("READ_API_KEY") or "").strip() or None
    return Service(url, key)


def _recorded(store: str | None, collection: str) -> str:
    """The url recorded beside the store by the live service of this collection (store/address.py)."""
    from framesearch.store.address import read_address

    if store == "":
        raise NotThin
    if store is None:
        from platformdirs import user_data_path

        root = user_data_path("framesearch", appauthor=False) / "library"
    else:
        root = Path(store).expanduser().absolute()
    address = read_address(root)
    if address is None or address.collection != collection:
        raise NotThin
    return address.url


def _env(name: str) -> str | None:
    """FRAMESEARCH_<name>, read as the settings read it (case-insensitive); NotThin for an empty one."""
    wanted = f"FRAMESEARCH_{name}".lower()
    found = [value for key, value in os.environ.items() if key.lower() == wanted]
    if found and not found[-1]:
        raise NotThin  # the settings' own reading of an empty value decides
    return found[-1] if found else None


def _last(options: dict[str, list[Any]], name: str) -> Any:
    return options[name][-1] if name in options else None


def videos_list(service: Service, options: dict[str, list[Any]]) -> int:
    """`videos list` as a table: the first 100 videos (or --limit, 0: all), page by page."""
    from framesearch.cli import render

    limit = _last(options, "--limit")
    if limit is not None and limit < 0:
        raise NotThin
    shown = render.TABLE_ROWS if limit is None else (limit or None)
    match, under = _last(options, "--match"), _last(options, "--under")
    params = {k: v for k, v in {"q": match, "under": under, "sort": _last(options, "--sort") or "name"}.items() if v}
    records: list[dict[str, Any]] = []
    total, cursor = 0, None
    while shown is None or len(records) < shown:
        size = PAGE if shown is None else min(PAGE, shown - len(records))
        page = _answer(service.get("/videos", {**params, "limit": size, **({"cursor": cursor} if cursor else {})}))
        total, videos, cursor = int(page["total"]), page["videos"], page.get("next_cursor")
        records += videos
        if not cursor or not videos:
            break
    render.print_videos(records, total, filtered=bool(match or under))
    return 0


def search(service: Service, text: str | None, options: dict[str, list[Any]]) -> int:
    """`search TEXT` (or --vector-file) as a table, or as the service's csv, vtt or edl text."""
    from framesearch.cli import render

    fmt = _last(options, "--format")
    if fmt not in (None, "csv", "vtt", "edl") or (text is not None and "--vector-file" in options):
        raise NotThin
    body: dict[str, Any] = {"q": text} if text is not None else {}
    if "--vector-file" in options:
        try:
            body["vector"] = read_vector_file(Path(_last(options, "--vector-file")))
        except InvalidInput:
            raise NotThin from None
    for option, field in SEARCH_FIELDS.items():
        if option in options:
            body[field] = options[option] if option in REPEATED else options[option][-1]
    if "--frames" in options:
        body["frames"] = True
    sent = service.post("/search", body)
    if fmt is not None:
        sys.stdout.write(sent[0].decode())
        return 0
    answer = _answer(sent)
    render.print_results(answer)
    render.print_next_cursor(answer.get("next_cursor"))
    return 0


def read_vector_file(path: Path) -> Any:
    """The query vector in a JSON file: a list of numbers, `{"vector": [...]}` or a results file's `embeddings`."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{path}: cannot read a vector: {str(exc)[:200]}") from None
    if isinstance(data, dict):
        data = data.get("vector", data.get("embeddings"))
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a JSON list of numbers (or {{'vector': [...]}})")
    return data
