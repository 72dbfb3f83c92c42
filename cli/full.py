"""The full `framesearch` app (Typer): every command module registered on the apps of cli/main.py."""

from framesearch.cli import alerts, demo, ingest, model, search, store, stream  # noqa: F401  (each registers its commands on the apps)
from framesearch.cli.main import app

__all__ = ["app"]
