"""`python -m framesearch` runs the CLI."""

from framesearch.cli.app import app

app(prog_name="framesearch")
