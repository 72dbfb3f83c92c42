"""The first run that works anywhere: render a short video of coloured shapes with known scenes, index it with
the bundled tiny CLIP, and answer example queries whose right answers are known. No network, no media, no GPU."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from framesearch.embedders.resolve import image_embedder, text_embedder
from framesearch.ingest.local import ingest_video
from framesearch.ingest.shapes import Scene, write_shapes_video
from framesearch.search.core import search
from framesearch.search.models import SearchRequest, Segment
from framesearch.settings import Settings
from framesearch.store.base import VectorStore

DEMO_MODEL = "tiny-shapes-clip"
DEMO_VIDEO_ID = "shapes-demo.mp4"
DEMO_FPS = 2.0
SCENES: list[Scene] = [  # shape, colour, background, seconds
    ("square", "white", "black", 3.0),
    ("circle", "red", "white", 3.0),
    ("triangle", "green", "black", 3.0),
    ("star", "yellow", "blue", 3.0),
    ("circle", "blue", "yellow", 3.0),
]
QUERIES = ["a red circle", "a yellow star", "a green triangle", "a white square", "a blue circle"]


class DemoAnswer(BaseModel):
    """One example query: where the demo video shows it, and what the search found."""

    query: str
    expected_start: float
    expected_end: float
    found: Segment | None
    right: bool


class DemoReport(BaseModel):
    """What `framesearch demo` did: the video it rendered and indexed, and the answers to its queries."""

    video_id: str
    path: str
    frames: int
    model: str
    answers: list[DemoAnswer]


def scene_times(scenes: list[Scene]) -> dict[str, tuple[float, float]]:
    """`"a COLOUR SHAPE"` -> (start, end) seconds of its scene."""
    times, start = {}, 0.0
    for shape, colour, _background, seconds in scenes:
        times[f"a {colour} {shape}"] = (start, start + seconds)
        start += seconds
    return times


def run_demo(store: VectorStore, settings: Settings, folder: Path) -> DemoReport:
    """Render the demo video into `folder`, index it with the bundled model (unless indexed already) and search it."""
    settings = settings.model_copy(update={"model": DEMO_MODEL})
    collection = store.info()
    embedder = image_embedder(settings, collection)  # refuses a collection of another model
    folder.mkdir(parents=True, exist_ok=True)
    path = write_shapes_video(folder / DEMO_VIDEO_ID, SCENES)
    record = ingest_video(store, path, embedder=embedder, fps=DEMO_FPS, video_id=DEMO_VIDEO_ID)
    query_embedder = text_embedder(settings, store.info())
    times = scene_times(SCENES)
    answers = []
    for query in QUERIES:
        request = SearchRequest(q=query, video_id=[DEMO_VIDEO_ID], limit=1)
        results = search(store, request, settings, query_embedder).results
        first = results[0] if results else None
        top = first if isinstance(first, Segment) else None  # the demo searches moments (segments mode)
        start, end = times[query]
        right = top is not None and start - 0.5 <= top.peak_time <= end + 0.5
        answers.append(DemoAnswer(query=query, expected_start=start, expected_end=end, found=top, right=right))
    return DemoReport(video_id=DEMO_VIDEO_ID, path=str(path), frames=record.frames, model=record.model, answers=answers)
