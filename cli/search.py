"""`framesearch search`, `videos list|delete` and `serve`: build the request, call the core, print its answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional, cast

import typer

from framesearch.cli import render
from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    ServiceOpt,
    StoreOpt,
    UrlOpt,
    app,
    err,
    fail_cleanly,
    out,
    print_json,
    request,
    settings_for,
    videos_app,
)
from framesearch.cli.main import report as report_error
from framesearch.cli.remote import service_for
from framesearch.cli.thin import read_vector_file
from framesearch.errors import InvalidInput, NotFound


@app.command("search")
@fail_cleanly
def search_cmd(
    ctx: typer.Context,
    text: Annotated[Optional[str], typer.Argument(help="What to find, in words.")] = None,
    vector_file: Annotated[Optional[Path], typer.Option("--vector-file", help="JSON file with a query vector.")] = None,
    video_id: Annotated[Optional[list[str]], typer.Option("--video-id", help="Only this video (repeatable).")] = None,
    under: Annotated[Optional[str], typer.Option("--under", help="Only videos whose id starts with this (holidays/).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Raw cosine score floor.")] = None,
    min_confidence: Annotated[
        Optional[float], typer.Option("--min-confidence", help="Calibrated confidence floor, 0-1 (default 0.75).")
    ] = None,
    negative: Annotated[Optional[list[str]], typer.Option("--not", help="Leave out what matches this text (repeatable).")] = None,
    then: Annotated[Optional[str], typer.Option("--then", help="Moments followed by this text...")] = None,
    within: Annotated[Optional[float], typer.Option("--within", help="...within this many seconds (default 10).")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="json, csv, vtt or edl (default: a table).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Most results to return (default 20).")] = None,
    cursor: Annotated[
        Optional[str], typer.Option("--cursor", help="The next page: the `next_cursor` a search printed (same query).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="segments or frames.")] = "segments",
    frames: Annotated[bool, typer.Option("--frames", help="List every frame of each moment (JSON: its `frames`).")] = False,
    t_min: Annotated[Optional[float], typer.Option("--from", help="Only frames at or after (s).")] = None,
    t_max: Annotated[Optional[float], typer.Option("--to", help="Only frames at or before (s).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Query model (default: the collection's).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the moments matching TEXT (or a vector) across the library, best first."""
    from framesearch.search.models import SearchRequest

    if text is not None and vector_file is not None:
        raise InvalidInput("give a text query or --vector-file, not both")
    vector = read_vector_file(vector_file) if vector_file else None
    if as_json and fmt not in (None, "json"):
        raise InvalidInput("--json is --format json: give one of them")
    fmt = "json" if as_json else fmt
    req = request(
        SearchRequest,
        q=text,
        vector=vector,
        video_id=video_id or [],
        under=under,
        threshold=threshold,
        limit=limit,
        cursor=cursor,
        mode=mode,
        frames=frames or None,
        t_min=t_min,
        t_max=t_max,
        min_confidence=min_confidence,
        negatives=negative or [],
        then=then,
        within=within,
        format=fmt,
    )
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            answer = service.search(req)
        _print_search(answer, None, fmt)
        return
    from framesearch.search.core import search
    from framesearch.search.exports import export
    from framesearch.store.open import open_store

    with open_store(settings, create=False) as st:
        needs_text = req.q is not None or req.then is not None or bool(req.negatives)
        embedder = None
        if needs_text:
            from framesearch.embedders.resolve import text_embedder

            embedder = text_embedder(settings, st.info())
        response = search(st, req, settings, embedder)
        text_out = export(st, response, fmt, req.then) if fmt in ("csv", "vtt", "edl") else None
    _print_search(response, text_out, fmt)


def _print_search(response: Any, text_out: str | None, fmt: str | None) -> None:
    if isinstance(response, str):
        response, text_out = None, response
    if text_out is not None:
        sys.stdout.write(text_out)
    elif fmt == "json":
        print_json(response)
    else:
        render.print_results(response.model_dump(mode="json"))
    if response is not None and fmt != "json":  # JSON carries it as `next_cursor`
        render.print_next_cursor(response.next_cursor)


@app.command("clip")
@fail_cleanly
def clip_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A video id, a video file, or a search result (JSON file, '-' for stdin).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The clip's file (.mp4, .mkv, .mov).")],
    t_from: Annotated[Optional[float], typer.Option("--from", help="Start (s); default: the result's.")] = None,
    t_to: Annotated[
        Optional[float], typer.Option("--to", help="End (s); default: the result's, else the end of the video.")
    ] = None,
    rank: Annotated[int, typer.Option("--rank", help="Which result of a search answer (1 = best).")] = 1,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cut a moment out of a video: losslessly where keyframes allow (stream copy), else re-encoded."""
    from framesearch.ingest.clips import ClipRequest, cut_clip

    source, start, end = _clip_source(ctx, target, rank, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    start, end = (t_from if t_from is not None else start), (t_to if t_to is not None else end)
    if start is None:
        raise InvalidInput("a video needs the range to cut: give --from and --to (no --to: to the end of the video)")
    report = cut_clip(request(ClipRequest, source=source, start=start, end=end, output=output))
    if as_json:
        print_json(report)
    else:
        out.print(f"wrote {report.path}: {report.start:.2f}-{report.end:.2f} s, {report.frames} frames ({report.method})")


def _clip_source(ctx: typer.Context, target: str, rank: int, **options: Any) -> tuple[Path, float | None, float | None]:
    """The video file and the range a clip target names: a video file, a search result, or a library video id."""
    from framesearch.ingest.video import VIDEO_EXTENSIONS
    from framesearch.service.media import record_file
    from framesearch.store.open import open_store

    path = Path(target)
    start = end = None
    video_id = target
    if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
        return path, None, None
    if target == "-" or (path.suffix.lower() == ".json" and path.is_file()):
        video_id, start, end = _result(sys.stdin.read() if target == "-" else path.read_text(), rank)
    settings = settings_for(ctx, **options)
    service = service_for(settings)
    if service is not None:
        with service:
            return record_file(service.get_video(video_id)), start, end
    with open_store(settings, create=False) as st:
        return record_file(st.get_video(video_id)), start, end


def _result(text: str, rank: int) -> tuple[str, float, float]:
    """The video id, start and end of a search result (one result, or a search answer's result `rank`)."""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "results" in data:
            data = data["results"][rank - 1]
        return str(data["video_id"]), float(data["start"]), float(data["end"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"not a search result (JSON with video_id, start and end): {type(exc).__name__}") from None


@videos_app.command("list")
@fail_cleanly
def videos_list(
    ctx: typer.Context,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=0, help="At most N videos (default 100 in a table, all with --json; 0: all).")
    ] = None,
    match: Annotated[Optional[str], typer.Option("--match", help="Only videos with this text in their id or a path.")] = None,
    under: Annotated[Optional[str], typer.Option("--under", help="Only videos whose id starts with this prefix.")] = None,
    sort: Annotated[str, typer.Option("--sort", help="name (A-Z), indexed (newest first) or duration (longest first).")] = "name",
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List indexed videos."""
    from framesearch.store.pages import SORTS, VideoSort

    if sort not in SORTS:
        raise InvalidInput(f"--sort: one of {', '.join(SORTS)}, not {sort!r}")
    shown = (None if as_json else render.TABLE_ROWS) if limit is None else (limit or None)
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            total, records = service.video_page(limit=shown, match=match or None, under=under or None, sort=sort)
    else:
        from framesearch.store.open import open_store

        with open_store(settings, create=False) as st:
            total, records = st.video_page(limit=shown, match=match or None, under=under or None, sort=cast("VideoSort", sort))
    if as_json:
        print_json(records)
        return
    render.print_videos([r.model_dump(mode="json") for r in records], total, filtered=bool(match or under))


@videos_app.command("delete")
@fail_cleanly
def videos_delete(
    ctx: typer.Context,
    video_ids: Annotated[Optional[list[str]], typer.Argument(help="Ids of the videos to delete.", show_default=False)] = None,
    missing: Annotated[bool, typer.Option("--missing", help="Every video whose files are all gone from disk.")] = False,
    under: Annotated[
        Optional[str], typer.Option("--under", help="Every video whose id starts with this prefix (e.g. holidays/).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting by --missing or --under.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete videos' frames and records: the ids given, and/or those gone from disk (--missing) or under a prefix
    (--under, asking first with their count). One opening of the store for all of them."""
    from framesearch.ingest.deletes import DeleteReport, delete_videos, videos_to_delete
    from framesearch.ingest.requests import DeleteVideos
    from framesearch.store.open import open_store
    from framesearch.validation import check_video_id

    if under is not None and not under.strip():
        raise InvalidInput("--under needs a prefix (an empty one would name every video)")
    # an empty or blank id names no video (never "every video")
    ids = [check_video_id(v) for v in video_ids or []]
    req = request(DeleteVideos, video_ids=ids, missing=missing, under=under)
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            given, selected = _remote_selection(service, req)
            _confirm_selection(req, selected, yes)
            report = service.delete_videos(DeleteVideos(video_ids=given + selected)) if given + selected else DeleteReport()
    else:
        with open_store(settings, create=False) as st:
            given, selected = videos_to_delete(st, req)
            _confirm_selection(req, selected, yes)
            report = delete_videos(st, given + selected)
    if as_json:
        print_json(report.deleted)
    else:
        for d in report.deleted:
            out.print(f"deleted {d.video_id}: {d.deleted_frames} frames", highlight=False, soft_wrap=True)
    for video_id in report.not_found:
        report_error(NotFound(f"no video {video_id!r} in the library"))
    if report.not_found:
        raise typer.Exit(1)


def _confirm_selection(req: Any, selected: list[str], yes: bool) -> None:
    """Ask before deleting what --missing or --under selects (unless --yes)."""
    if req.missing or req.under:
        what = " or ".join(w for w in ("gone from disk" if req.missing else "", f"under {req.under!r}" if req.under else "") if w)
        if not selected:
            err.print(f"no videos {what}", highlight=False)
        elif not yes and not typer.confirm(f"delete {len(selected)} video(s) {what}?", err=True):
            raise typer.Exit(1)


def _remote_selection(service: Any, req: Any) -> tuple[list[str], list[str]]:
    """videos_to_delete's answer through a service on this machine: the ids given, and those selected."""
    from framesearch.store.pages import is_missing

    given = list(dict.fromkeys(req.video_ids))
    if not (req.missing or req.under):
        return given, []
    _, records = service.video_page(limit=None)
    chosen = set(given)
    selected = [
        r.video_id
        for r in records
        if r.video_id not in chosen and ((req.missing and is_missing(r)) or (req.under and r.video_id.startswith(req.under)))
    ]
    return given, selected


@app.command("serve")
@fail_cleanly
def serve(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", help="Service processes (default 1; more need --qdrant-url).")
    ] = None,
    allow_anonymous: Annotated[
        bool,
        typer.Option(
            "--allow-anonymous", help="Listen beyond loopback without an API key (anyone reaching it may change the library)."
        ),
    ] = False,
    watch: Annotated[
        Optional[list[Path]],
        typer.Option("--watch", help="Index new and changed videos under this folder as they appear (repeatable)."),
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="With --watch: videos deleted from the folder leave the library.")
    ] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Run the HTTP API and web page (uvicorn); docs at /docs. Without FRAMESEARCH_API_KEY, loopback only.
    While it runs, every other command on this store goes through it."""
    from framesearch.service.listen import check_binding, claim_port

    settings = settings_for(
        ctx, host=host, port=port, workers=workers, store=store, qdrant_url=qdrant_url, collection=collection, watch=watch or None
    )
    folders = _watched(settings, prune)
    warning = check_binding(settings, allow_anonymous)  # the bind rules and the port first: before any slow loading
    if warning:
        from rich.markup import escape

        err.print(f"[bold red]{escape(warning)}[/bold red]", highlight=False, soft_wrap=True)
    sock = claim_port(settings.host, settings.port)
    _say_what_is_served(settings)
    if settings.workers > 1:
        sock.close()  # uvicorn's workers bind it themselves
        _serve_workers(settings)
        return
    _serve_one(settings, sock, folders, prune)


def _say_what_is_served(settings: Any) -> None:
    """One line naming the library served (its absolute path) and its collection, noting a collection made new."""
    from framesearch.store.collections import list_collections, where

    line = f"serving collection {settings.collection!r} of {where(settings)}"
    if not settings.qdrant_url:
        found = list_collections(settings) if settings.store.is_dir() else []
        if settings.collection not in found:
            there = ", ".join(found) or "none"
            line += f" (a new, empty collection; collections there: {there})"
    err.print(line, highlight=False, soft_wrap=True, markup=False)


def _serve_one(settings: Any, sock: Any, folders: list[Path], prune: bool) -> None:
    """One uvicorn process on the socket already bound, with the store held by a child process."""
    import uvicorn

    from framesearch.service.app import create_app
    from framesearch.store.open import open_service_store

    try:
        opened = open_service_store(settings)
    except BaseException:
        sock.close()
        raise
    try:
        app = create_app(settings, opened, close_store=True, announce=_address(settings), watch=folders, prune=prune)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info")
        _server(config).run(sockets=[sock])
    finally:
        opened.close()
        sock.close()


def _server(config: Any) -> Any:
    """uvicorn's server, which on Ctrl-C or SIGTERM first ends the open event streams (GET /alerts/events): uvicorn
    waits for every response in progress before it stops, and a stream would never end by itself."""
    import uvicorn

    from framesearch.service.alerts_api import CLOSING

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            CLOSING.set()
            super().handle_exit(sig, frame)

    return Server(config)


def _watched(settings: Any, prune: bool) -> list[Path]:
    """The folders to watch, checked before anything is loaded."""
    folders = [Path(f).expanduser() for f in settings.watch]
    if prune and not folders:
        raise InvalidInput("--prune removes the videos deleted from watched folders: give --watch DIR too")
    for folder in folders:
        if not folder.is_dir():
            raise InvalidInput(f"cannot watch {folder.resolve()}: no such folder")
    if folders and settings.workers > 1:
        raise InvalidInput("--watch needs one service process (--workers 1)")
    return folders


def _address(settings: Any) -> str:
    """The URL commands on this machine reach the service at (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, str(settings.host))
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _serve_workers(settings: Any) -> None:
    """Several uvicorn worker processes, each with its own connection to the Qdrant server."""
    import os

    import uvicorn

    from framesearch.settings import settings_env

    if not settings.qdrant_url:
        raise InvalidInput(
            f"--workers {settings.workers} needs a Qdrant server (--qdrant-url): Qdrant Edge lets one process open "
            "a store, and serves one search at a time; run `framesearch serve` with one worker on an Edge store"
        )
    os.environ.update(settings_env(settings))  # each worker builds the same settings from the environment
    uvicorn.run(
        "framesearch.service.app:app_from_env",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level="info",
    )
