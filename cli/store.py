"""`framesearch store ...`: commands about the store itself (registered on `store_app`)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from framesearch.cli import render
from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    ServiceOpt,
    StoreOpt,
    UrlOpt,
    collections_app,
    err,
    fail_cleanly,
    out,
    print_json,
    request,
    settings_for,
    store_app,
)
from framesearch.errors import InvalidInput


@store_app.command("info")
@fail_cleanly
def store_info(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Backend, collection, model, points, videos, index state and, on a server, shards and replicas."""
    from framesearch.cli.remote import service_for

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            info = service.store_info()
    else:
        from framesearch.store.info import describe
        from framesearch.store.open import open_store

        with open_store(settings, create=False) as st:
            info = describe(st)
    if as_json:
        print_json(info)
        return
    render.print_store_info(info.model_dump(mode="json"))


@store_app.command("index")
@fail_cleanly
def store_index(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the search index of the frames written since the last build (after `ingest ... --defer-index`).
    Frames indexed before are kept. A Qdrant server indexes by itself: this waits until it has."""
    from framesearch.cli.indexing import build_search_index
    from framesearch.store.open import open_store

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)
    with open_store(settings, create=False) as st:
        status = build_search_index(st, show=not as_json) if st.index_builds_here else st.build_index()
        if status is None:
            status = st.index_status()
        if as_json:
            print_json({"points": status.points, "indexed": status.indexed, "state": status.state})
        elif not st.index_builds_here:
            err.print(f"search index: {status.words()}", highlight=False, markup=False)


@store_app.command("copy")
@fail_cleanly
def store_copy(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Target: a Qdrant Edge folder or a Qdrant server URL.")],
    source: Annotated[
        Optional[str], typer.Option("--from", help="Source: an Edge folder or a server URL (default: the current store).")
    ] = None,
    to_collection: Annotated[
        Optional[str], typer.Option("--to-collection", help="Collection in the target (default: the same name).")
    ] = None,
    to_api_key: Annotated[
        Optional[str], typer.Option("--to-api-key", help="API key of a target server (default FRAMESEARCH_QDRANT_API_KEY).")
    ] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Add to a target that already holds other videos.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the library (every point and video record) to another store, resumably, then verify the copy."""
    from framesearch.cli.ingest import progress_bar, tracker
    from framesearch.store.copy import CopyRequest, copy_library
    from framesearch.store.open import open_location, open_store

    req = request(CopyRequest, target=to, source=source, collection=to_collection, merge=merge)
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)
    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    target_collection = req.collection or settings.collection
    if _same_place(req.source, settings, req.target) and target_collection == settings.collection:
        raise InvalidInput("the source and the target are the same store")
    src = open_location(req.source, settings.collection, api_key=key) if req.source else open_store(settings, create=False)
    with src:
        with open_location(req.target, target_collection, api_key=to_api_key or key, settings=settings) as dst:
            with progress_bar(not as_json) as bar:
                report = copy_library(src, dst, merge=req.merge, sample=req.sample, progress=tracker(bar, "points"))
    if as_json:
        print_json(report)
        return
    out.print(
        f"copied {report.copied} of {report.videos} videos ({report.points} points) to {report.target}"
        f"{f'; {report.skipped} already there' if report.skipped else ''}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"verified: {report.verified_videos} videos (records and point counts), {report.sampled_vectors} sampled vectors",
        highlight=False,
    )


def _same_place(source: str | None, settings: Any, target: str) -> bool:
    """Whether the target names the source's place (an Edge folder or a server URL)."""
    from pathlib import Path

    from framesearch.store.open import is_url

    here = source or settings.qdrant_url or str(settings.store)
    if is_url(here) or is_url(target):
        return here.rstrip("/") == target.rstrip("/")
    return Path(here).resolve() == Path(target).resolve()


@store_app.command("check")
@fail_cleanly
def store_check(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed, then check again.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every video record against its points, and find unfinished ingests, stray points and damaged files.
    Exit status 1 while problems remain."""
    from framesearch.cli.remote import service_for
    from framesearch.store.check import check_settings

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            report = service.check(repair)
    else:
        report = check_settings(settings, repair)
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    from rich.table import Table

    out.print(
        f"{report.store}: {report.videos} videos, {report.searchable_frames} searchable frames, "
        f"{report.stored_points} frame points stored",
        highlight=False,
        soft_wrap=True,
    )
    for run in report.in_progress:
        out.print(f"in progress: {run.op} of {run.video_id} by {run.writer}", highlight=False, soft_wrap=True)
    if report.problems:
        table = Table("problem", "video", "points", "detail", *(["repaired"] if report.repair else []))
        for p in report.problems:
            status = ["[green]yes[/green]" if p.repaired else "[red]no[/red]"] if report.repair else []
            table.add_row(p.kind, p.video_id or "-", str(p.points or ""), p.detail, *status)
        out.print(table)
    if report.ok:
        out.print("repaired: the store is consistent" if report.problems else "ok: the store is consistent")
    elif not report.repairable:
        out.print(
            f"{report.remaining} problem(s); damaged files cannot be repaired: restore the store from a backup, "
            "or re-ingest the videos named (a damaged shard: into a new store)"
        )
    elif report.repair:
        out.print(f"{report.remaining} problem(s) remain")
    else:
        out.print(f"{report.remaining} problem(s): `framesearch store check --repair` fixes them")


@collections_app.command("list")
@fail_cleanly
def collections_list(ctx: typer.Context, store: StoreOpt = None, qdrant_url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """The collections in the store (one model's vectors each), with their model and videos."""
    from framesearch.store.collections import list_collections, where
    from framesearch.store.info import describe
    from framesearch.store.open import open_store

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url)
    rows = []
    for name in list_collections(settings):
        with open_store(settings.model_copy(update={"collection": name}), create=False) as st:
            info = describe(st)
        rows.append({"collection": name, "model": info.model, "videos": info.videos, "frames": info.points})
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no collections in {where(settings)} yet", highlight=False, soft_wrap=True)
        return
    from rich.table import Table

    table = Table("collection", "model", "videos", "frames")
    for row in rows:
        table.add_row(row["collection"], row["model"] or "none yet (empty)", str(row["videos"]), str(row["frames"]))
    out.print(f"collections in {where(settings)}:", highlight=False, soft_wrap=True, markup=False)
    out.print(table)


@collections_app.command("drop")
@fail_cleanly
def collections_drop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The collection to delete, with every video and frame in it.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
) -> None:
    """Delete a collection: its frames, video records and model record (video files are not touched)."""
    from framesearch.store.collections import drop_collection, require_collection, where

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=name)
    require_collection(settings)
    if not yes and not typer.confirm(f"delete collection {name!r} in {where(settings)} with all its videos?"):
        err.print("nothing deleted", highlight=False)
        raise typer.Exit(1)
    drop_collection(settings)
    out.print(f"dropped collection {name!r} from {where(settings)}", highlight=False, soft_wrap=True)
