"""`framesearch demo`: the first run that works anywhere (render, index and search a video of coloured shapes)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framesearch.cli.main import JsonOpt, StoreOpt, UrlOpt, app, err, fail_cleanly, out, print_json, settings_for

DEMO_COLLECTION = "demo"
DemoCollectionOpt = Annotated[
    Optional[str], typer.Option("--collection", help=f"The demo's collection (default {DEMO_COLLECTION}, never yours).")
]


@app.command("demo")
@fail_cleanly
def demo_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: DemoCollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a short video of coloured shapes, index it with the bundled tiny model into a collection of its own
    (`demo`), and answer example queries (offline; then `framesearch serve --collection demo` shows it)."""
    from framesearch.search.demo import DEMO_MODEL, run_demo
    from framesearch.store.open import open_store

    # its own collection, whatever the global --collection or FRAMESEARCH_COLLECTION say: never the user's videos
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection or DEMO_COLLECTION)
    if not as_json:
        err.print(
            f"rendering a 15 s video of coloured shapes and indexing it with the bundled {DEMO_MODEL} ...",
            highlight=False,
            markup=False,
        )
    with open_store(settings) as st:
        report = run_demo(st, settings, settings.work_dir / "demo")
    if as_json:
        print_json(report)
        return
    out.print(f"indexed {report.video_id}: {report.frames} frames ({report.path})", highlight=False, markup=False)
    from rich.table import Table

    table = Table("query", "on screen", "found", "score", "")
    for a in report.answers:
        found = f"{a.found.start:.1f}-{a.found.end:.1f} s" if a.found else "nothing"
        score = f"{a.found.score:.3f}" if a.found else ""
        table.add_row(
            a.query,
            f"{a.expected_start:.0f}-{a.expected_end:.0f} s",
            found,
            score,
            "[green]right[/green]" if a.right else "[red]wrong[/red]",
        )
    out.print(table)
    right = sum(a.right for a in report.answers)
    out.print(f"{right} of {len(report.answers)} example queries found their scene.", highlight=False)
    from framesearch.settings import store_options

    where = " ".join(["", *store_options(settings), "--collection", settings.collection])  # commands that work as printed
    out.print(
        f"The demo lives in collection {settings.collection!r} of {settings.qdrant_url or settings.store}, apart from "
        "your own videos.\n"
        f'Next: `framesearch search "a yellow star"{where}`, or `framesearch serve{where}` and open '
        f"http://{settings.host}:{settings.port}/.\n"
        "Your own footage needs a real CLIP: `framesearch model pull ViT-B-16__openai`, then\n"
        "`framesearch ingest local YOUR_VIDEOS --recursive` (the default collection; `framesearch collections list` "
        "shows them all).",
        highlight=False,
        markup=False,
    )
