"""The `framesearch` command, the CLI edge: it builds request models, calls the core, prints its answers.

The console script is `framesearch.cli.thin:main` (read commands a running service answers, at a bare
interpreter's cost; everything else in the full Typer app of cli/full.py). This package imports nothing itself,
so the thin client loads no Typer; `framesearch.cli.app` (cli/full.py) is imported on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`from framesearch.cli import app` (PEP 562): the full app, imported only when asked for."""
    if name == "app":
        from framesearch.cli.full import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
