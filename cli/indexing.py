"""The end of every CLI ingest: build the search index for the frames just written, with a progress line."""

from __future__ import annotations

from typing import Any

from framesearch.cli.main import err


def build_search_index(store: Any, show: bool = True) -> Any:
    """Index the new frames (only those; segments indexed before are kept) so the next search is an ANN search,
    not a scan. Qdrant Edge builds in this process; a Qdrant server indexes by itself, in its own background."""
    if not getattr(store, "index_builds_here", False):
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err.console, disable=not show, transient=True) as bar:
        task = bar.add_task("building the search index", total=None)

        def progress(status: Any) -> None:
            bar.update(task, total=max(status.points, 1), completed=status.indexed)
            bar.refresh()  # Qdrant Edge holds the interpreter while it builds: draw now, not on the next tick

        status = store.build_index(progress)
        bar.update(task, visible=False)
    if show:  # the same words as `store info` and /healthz
        err.print(f"search index: {status.words()}", highlight=False, markup=False)
    return status


def finish_index(store: Any, defer: bool, show: bool = True) -> Any:
    """The end of an ingest: build the index of the new frames, or with `defer` (`--defer-index`) leave them to a
    later `framesearch store index` (bulk imports build once), saying so."""
    if not defer:
        return build_search_index(store, show)
    if show and getattr(store, "index_builds_here", False):
        status = store.index_status()
        err.print(
            f"search index: {status.words()}; deferred: run `framesearch store index` to build it",
            highlight=False,
            markup=False,
        )
    return None
