"""A library of many small videos made fast, through the product's own write path (index_frames: a run per video,
its frame points and its record), for tests and benches of the page and the API at scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODEL = "tests/tiny-colour-clip"


def video_name(i: int) -> str:
    """Every fifth video under holidays/, the rest under work/."""
    return f"{'holidays' if i % 5 == 0 else 'work'}/v{i:05d}.mp4"


def video_duration(i: int) -> float:
    """Durations that do not follow the names (so sorting by length reorders them)."""
    return float((i * 7919) % 10_007 + 1)


def library_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """The one frame vector of each video build_library writes (not yet normalised: the store does that)."""
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def build_library(folder: Path, count: int, dim: int, seed: int = 0, model: str = MODEL) -> list[str]:
    """`count` one-frame videos (no video file) in a new Edge store at `folder`; returns their ids."""
    from framesearch.ingest.index import index_frames
    from framesearch.store.edge import EdgeStore
    from framesearch.store.schema import FramePoint, VideoRecord

    ids = [video_name(i) for i in range(count)]
    vectors = library_vectors(count, dim, seed)
    with EdgeStore(folder) as store:
        for i, video_id in enumerate(ids):
            vector = vectors[i]
            record = VideoRecord(video_id=video_id, model=model, source="results", frames=0, duration=video_duration(i))
            index_frames(store, record, [[FramePoint(video_id, 0, 0.0, vector, 1.0, model, "results")]])
    return ids


DOM_SIZE = "() => document.getElementsByTagName('*').length"


def measure_page(browser, base: str) -> dict:
    """Load the page in a fresh tab and open its filter and its library tab: the milliseconds to interactive (the
    page marks itself ready), the elements in the document at each step, and the GET /videos requests it made."""
    import time

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/videos?" in r.url or r.url.endswith("/videos") else None)
    start = time.perf_counter()
    page.goto(f"{base}/")
    page.wait_for_selector("body[data-ready=true]")
    tti = (time.perf_counter() - start) * 1000
    loaded = page.evaluate(DOM_SIZE)
    page.evaluate("() => { document.querySelector('#filters').open = true; }")
    with_filter = page.evaluate(DOM_SIZE)
    start = time.perf_counter()
    page.click("#tab-library")
    page.wait_for_selector("#library[data-fresh=true] tbody tr")
    library_ms = (time.perf_counter() - start) * 1000
    library = page.evaluate(DOM_SIZE)
    page.close()
    return {"tti_ms": tti, "dom_loaded": loaded, "dom_filter": with_filter, "library_ms": library_ms,
            "dom_library": library, "requests": asked}  # fmt: skip
