"""Render a synthetic video of coloured shapes with known segments (the renderer is the demo's, in the package)."""

from framesearch.ingest.shapes import Scene as Segment  # noqa: F401  (shape, colour, background, seconds)
from framesearch.ingest.shapes import write_shapes_video  # noqa: F401
