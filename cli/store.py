"""`framesearch store ...`: commands about the store itself (registered on `store_app`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    StoreOpt,
    UrlOpt,
    fail_cleanly,
    out,
    print_json,
    settings_for,
    store_app,
)


@store_app.command("check")
@fail_cleanly
def store_check(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed, then check again.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every video record against its points, and find unfinished ingests and stray points.
    Exit status 1 while problems remain."""
    from framesearch.store.check import check_settings

    report = check_settings(settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection), repair)
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report) -> None:
    out.print(f"{report.store}: {report.videos} videos, {report.searchable_frames} searchable frames, "
              f"{report.stored_points} frame points stored", highlight=False, soft_wrap=True)
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
        out.print(f"{report.remaining} problem(s); damaged files cannot be repaired: restore the store from a backup, "
                  "or re-ingest the videos named (a damaged shard: into a new store)")
    elif report.repair:
        out.print(f"{report.remaining} problem(s) remain")
    else:
        out.print(f"{report.remaining} problem(s): `framesearch store check --repair` fixes them")
