"""Helpers for driving the search page: index real videos, run `framesearch serve` in a subprocess, launch Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.server import running_service

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """Debian's chromium (or $FRAMESEARCH_CHROMIUM), if installed."""
    wanted = os.environ.get("FRAMESEARCH_CHROMIUM")
    for candidate in ([wanted] if wanted else []) + list(CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


def browser_missing() -> str | None:
    """None when Playwright and a Chromium binary are both installed, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements-e2e.txt)"
    if chromium_path() is None:
        return "no Chromium binary (apt-get install chromium, or set FRAMESEARCH_CHROMIUM)"
    return None


def launch_chromium(playwright):
    """A headless Chromium that reaches nothing but the test server."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


def index_videos(store_dir: Path, model_dir: Path, videos: dict[str, Path], fps: float = 3.0) -> None:
    """Index real video files (id -> path) into an embedded store with a local CLIP model folder."""
    from framesearch.embedders.onnx_clip import OnnxClip
    from framesearch.ingest.local import ingest_video
    from framesearch.settings import Settings
    from framesearch.store.open import open_store

    embedder = OnnxClip(model_dir)
    with open_store(Settings(store=store_dir, model=str(model_dir))) as store:
        for video_id, path in videos.items():
            ingest_video(store, path, embedder=embedder, fps=fps, video_id=video_id)


@contextmanager
def serve(store_dir: Path, model_dir: Path, log: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run `python -m framesearch serve` on a free port; yields its base URL, stops it on exit."""
    env = {"FRAMESEARCH_STORE": str(store_dir), "FRAMESEARCH_MODEL": str(model_dir)}
    with running_service(env, log, timeout=timeout) as service:
        yield service.base
