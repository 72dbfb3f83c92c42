"""`python -m framesearch` runs the CLI."""

from framesearch.cli import app

app(prog_name="framesearch")
