"""`python -m framesearch` runs the CLI (its thin client where that can answer, else the full app)."""

from framesearch.cli.thin import main

main()
