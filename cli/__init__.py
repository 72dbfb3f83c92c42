"""The `framesearch` command (Typer), the CLI edge: it builds request models, calls the core, prints its answers."""

from framesearch.cli import alerts, demo, ingest, model, search, store, stream  # noqa: F401  (each registers its commands on the apps)
from framesearch.cli.main import app

__all__ = ["app"]
