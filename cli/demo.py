"""`framesearch demo`: the first run that works anywhere (render, index and search a video of coloured shapes)."""

from __future__ import annotations

import typer

from framesearch.cli.main import CollectionOpt, JsonOpt, StoreOpt, UrlOpt, app, err, fail_cleanly, out, print_json, settings_for


@app.command("demo")
@fail_cleanly
def demo_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a short video of coloured shapes, index it with the bundled tiny model, and answer example queries
    (offline; then `framesearch serve` shows it)."""
    from framesearch.search.demo import DEMO_MODEL, run_demo
    from framesearch.store.open import open_store

    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)
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
    out.print(
        'Next: `framesearch search "a yellow star"`, or `framesearch serve` and open http://127.0.0.1:8000/.\n'
        "Real footage needs a real CLIP, in a collection of its own (one model per collection):\n"
        "`framesearch model pull ViT-B-16__openai`, then\n"
        "`framesearch ingest local YOUR_VIDEOS --recursive --model ViT-B-16__openai --collection videos`.",
        highlight=False,
        markup=False,
    )
