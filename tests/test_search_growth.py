"""A moment that reaches the limits of a search: the start of its video (a frame after it, the first not matching)
or the ends of the time range. Its growth stops there; it used to double its window for ever, one store search a
step, until the window's size overflowed (a 500 on /search for text-like queries on synthetic libraries)."""

from __future__ import annotations

import numpy as np

from framesearch.ingest.index import ingest_results
from framesearch.ingest.results import ParsedResults
from framesearch.search.core import search
from framesearch.search.models import SearchRequest
from framesearch.settings import Settings
from framesearch.store.edge import EdgeStore

FPS = 3.0


def frames_scoring(cosines: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors whose cosine with `target` (a unit vector) is each of `cosines`."""
    noise = rng.normal(size=(len(cosines), len(target)))
    noise -= np.outer(noise @ target, target)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return cosines[:, None] * target + np.sqrt(1 - cosines[:, None] ** 2) * noise


def test_a_moment_from_the_second_frame_of_its_video_stops_growing_at_the_start(tmp_path):
    rng = np.random.default_rng(3)
    target = np.eye(8)[0]
    cosines = np.full(600, 0.3)
    peak = 300
    cosines[1:401] = 0.99 - 0.14 * np.abs(np.arange(1, 401) - peak) / (peak - 1)  # frames 1-400 match; 300 is best
    vectors = frames_scoring(cosines, target, rng)
    frames = list(range(600))
    parsed = ParsedResults(frames, [f / FPS for f in frames], vectors.astype(np.float32), 0, "clip")
    with EdgeStore(tmp_path / "s") as store:
        ingest_results(store, parsed, "v", fps=FPS, model="m")
        for request in (
            SearchRequest(vector=target.tolist(), threshold=0.8, limit=1, frames=True),
            SearchRequest(vector=target.tolist(), threshold=0.8, limit=1, frames=True, t_min=30.0, t_max=110.0),
        ):
            answer = search(store, request, Settings())
            assert answer.count == 1, request
            moment = answer.results[0]
            found = [f.frame for f in moment.frames or []]
            low, high = (1, 400) if request.t_min is None else (90, 330)
            assert found == list(range(low, high + 1)) and moment.peak_frame == peak, request
