"""CLI commands for local inference: `ingest local` (files or whole folders) and `infer` (results JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from framesearch.cli.app import (
    CollectionOpt,
    JsonOpt,
    StoreOpt,
    UrlOpt,
    app,
    err,
    fail_cleanly,
    ingest_app,
    out,
    print_json,
    settings_for,
)

FpsOpt = Annotated[float, typer.Option("--fps", help="Frames sampled per second of video.")]
ModelDirOpt = Annotated[Optional[str], typer.Option("--model", help="CLIP model folder or bundled model name.")]


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress bar on stderr: frames done, rate, ETA."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, disable=not enabled, transient=False) as bar:
        yield bar


def _tracker(bar: Progress, label: str):
    task = bar.add_task(label, total=None, rate="")

    def update(done: int, total: int | None) -> None:
        elapsed = bar.tasks[task].elapsed or 0
        rate = f"{done / elapsed:5.1f} frames/s" if elapsed > 0 else ""
        bar.update(task, completed=done, total=max(total, done) if total else None, rate=rate)

    return update


@ingest_app.command("local")
@fail_cleanly
def ingest_local(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Video files and/or folders.")],
    fps: FpsOpt = 3.0,
    model: ModelDirOpt = None,
    video_id: Annotated[Optional[str], typer.Option("--video-id", help="Id for a single video (default: stem).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-index even if already indexed.")] = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample frames locally, embed them with CLIP (CPU or GPU) and index them; folders index a whole library."""
    from framesearch.embedders.resolve import load_image_embedder
    from framesearch.ingest.library import ingest_library, library_items
    from framesearch.store.open import open_store

    items = library_items(inputs, recursive, video_id)
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection)
    with open_store(settings) as st, progress_bar(not as_json) as bar:
        embedder = load_image_embedder(settings, st.info())
        outcomes = ingest_library(
            st, items, embedder=embedder, fps=fps, force=force, progress_for=lambda item: _tracker(bar, item.video_id)
        )
    failed = [o for o in outcomes if o.status == "failed"]
    if as_json:
        print_json([{**o.__dict__, "path": str(o.path)} for o in outcomes])
    else:
        _summary(outcomes)
    if failed:
        raise typer.Exit(1)


def _summary(outcomes) -> None:
    table = Table("video", "status", "frames", "note")
    for o in outcomes:
        colour = {"indexed": "green", "skipped": "yellow", "failed": "red"}[o.status]
        table.add_row(o.video_id, f"[{colour}]{o.status}[/{colour}]", str(o.frames or ""), o.reason)
    out.print(table)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("indexed", "skipped", "failed")}
    out.print(f"indexed {counts['indexed']}, skipped {counts['skipped']}, failed {counts['failed']}")


@app.command("infer")
@fail_cleanly
def infer(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="Video file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the results JSON.")],
    fps: FpsOpt = 3.0,
    model: ModelDirOpt = None,
) -> None:
    """Embed a video's frames locally and write Roboflow's results format (no store needed)."""
    from framesearch.embedders.resolve import load_image_embedder
    from framesearch.ingest.local import infer_video
    from framesearch.ingest.results import to_results_json

    settings = settings_for(ctx, model=model)
    embedder = load_image_embedder(settings, None)
    with progress_bar() as bar:
        frames, times, vectors = infer_video(video, embedder=embedder, fps=fps, progress=_tracker(bar, video.name))
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(to_results_json(frames, times, vectors)))
    tmp.replace(output)
    out.print(f"wrote {output}: {len(frames)} frames of {embedder.name} at {fps:g} fps")
