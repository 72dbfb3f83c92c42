"""`framesearch store ...`: commands about the store itself (registered on `store_app`)."""

from __future__ import annotations

from framesearch.cli.main import store_app  # noqa: F401  (commands below register on it)
