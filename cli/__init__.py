"""The `framesearch` command (Typer): the CLI edge. It builds request models, calls the core, prints its answers."""

from framesearch.cli.app import app

__all__ = ["app"]
