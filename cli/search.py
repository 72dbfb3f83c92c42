"""`framesearch search`, `videos list|delete` and `serve`: build the request, call the core, print its answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    StoreOpt,
    UrlOpt,
    app,
    fail_cleanly,
    out,
    print_json,
    request,
    settings_for,
    videos_app,
)
from framesearch.errors import InvalidInput


def _read_vector_file(path: Path) -> Any:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot read a vector: {exc}") from None
    if isinstance(data, dict):
        data = data.get("vector", data.get("embeddings"))
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a JSON list of numbers (or {{'vector': [...]}})")
    return data


@app.command("search")
@fail_cleanly
def search_cmd(
    ctx: typer.Context,
    text: Annotated[Optional[str], typer.Argument(help="What to find, in words.")] = None,
    vector_file: Annotated[Optional[Path], typer.Option("--vector-file", help="JSON file with a query vector.")] = None,
    video_id: Annotated[Optional[list[str]], typer.Option("--video-id", help="Only this video (repeatable).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Cosine score floor.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Most results to return (default 20).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="segments or frames.")] = "segments",
    t_min: Annotated[Optional[float], typer.Option("--from", help="Only frames at or after (s).")] = None,
    t_max: Annotated[Optional[float], typer.Option("--to", help="Only frames at or before (s).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Query model (default: the collection's).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the moments matching TEXT (or a vector) across the library, best first."""
    from framesearch.search.core import search
    from framesearch.search.models import SearchRequest
    from framesearch.store.open import open_store

    if text is not None and vector_file is not None:
        raise InvalidInput("give a text query or --vector-file, not both")
    vector = _read_vector_file(vector_file) if vector_file else None
    req = request(SearchRequest, q=text, vector=vector, video_id=video_id or [], threshold=threshold, limit=limit,
                  mode=mode, t_min=t_min, t_max=t_max)
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection)
    with open_store(settings) as st:
        embedder = None
        if req.q is not None:
            from framesearch.embedders.resolve import text_embedder

            embedder = text_embedder(settings, st.info())
        response = search(st, req, settings, embedder)
    if as_json:
        print_json(response)
    else:
        _print_results(response)


def _print_results(data: Any) -> None:
    from rich.table import Table

    if not data.results:
        out.print(f"no matches above threshold {data.threshold}")
        return
    segments = data.mode == "segments"
    table = Table("score", "video", "time (s)", "frames" if segments else "frame")
    for r in data.results:
        if segments:
            table.add_row(f"{r.score:.3f}", r.video_id, f"{r.start:.2f}-{r.end:.2f}", str(r.frame_count))
        else:
            table.add_row(f"{r.score:.3f}", r.video_id, f"{r.timestamp:.2f}", str(r.frame))
    out.print(table)


@videos_app.command("list")
@fail_cleanly
def videos_list(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List indexed videos."""
    from framesearch.store.open import open_store

    with open_store(settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)) as st:
        records = st.list_videos()
    if as_json:
        print_json(records)
        return
    from rich.table import Table

    table = Table("video", "frames", "fps", "duration (s)", "model", "source", "indexed")
    for r in records:
        fps = f"{r.fps:g}" if r.fps else "-"
        duration = f"{r.duration:.1f}" if r.duration is not None else "-"
        table.add_row(r.video_id, str(r.frames), fps, duration, r.model, r.source, r.indexed_at or "-")
    out.print(table if records else "no videos indexed yet")


@videos_app.command("delete")
@fail_cleanly
def videos_delete(
    ctx: typer.Context,
    video_id: Annotated[str, typer.Argument(help="Id of the video to delete.")],
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Delete a video's frames and record."""
    from framesearch.store.open import open_store

    with open_store(settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)) as st:
        deleted = st.delete_video(video_id)
    out.print(f"deleted {video_id}: {deleted} frames")


@app.command("serve")
@fail_cleanly
def serve(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", help="Service processes (default 1; more need --qdrant-url).")
    ] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Run the HTTP API and web page (uvicorn); docs at /docs."""
    import uvicorn

    from framesearch.service.app import create_app
    from framesearch.store.open import open_service_store

    settings = settings_for(ctx, host=host, port=port, workers=workers, store=store, qdrant_url=qdrant_url,
                            collection=collection)
    if settings.workers > 1:
        _serve_workers(settings)
        return
    opened = open_service_store(settings)
    try:
        app = create_app(settings, opened, close_store=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    finally:
        opened.close()


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
    uvicorn.run("framesearch.service.app:app_from_env", factory=True, workers=settings.workers, host=settings.host,
                port=settings.port, log_level="info")
