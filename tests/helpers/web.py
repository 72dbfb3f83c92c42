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
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright or axe-playwright-python is not installed (pip install -r requirements-e2e.txt)"
    if chromium_path() is None:
        return "no Chromium binary (apt-get install chromium, or set FRAMESEARCH_CHROMIUM)"
    return None


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium (Playwright's sync API) that reaches nothing but the test server; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


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


class Watched:
    """A page that may fetch from `base` only; console errors, page errors and outside requests are kept.
    `allow(text)` accepts console errors containing `text` (a failed request a test provokes on purpose)."""

    def __init__(self, context, base: str) -> None:
        self.base, self.problems, self.allowed = base, [], []
        context.route("**/*", self._only_local)
        self.page = context.new_page()
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)
        self.page.set_default_timeout(20_000)

    def _only_local(self, route) -> None:
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.problems.append(f"outside request: {route.request.url}")
            route.abort()

    def _console(self, message) -> None:
        if message.type == "error" and not any(text in message.text for text in self.allowed):
            self.problems.append(f"console error: {message.text}")

    def allow(self, text: str) -> None:
        self.allowed.append(text)

    def check(self) -> None:
        assert not self.problems, self.problems


def open_page(page, base: str, address: str = "") -> None:
    page.goto(f"{base}/{address}")
    page.wait_for_selector("body[data-ready=true]")


def answered(page, action) -> list[dict]:
    """Do `action` (which starts a search), wait for the page to show its answer, return the cards."""
    seq = "() => { const d = document.querySelector('#results').dataset; return [Number(d.started || 0), Number(d.done || 0)]; }"
    before = page.evaluate(seq)[0]
    action()
    page.wait_for_function(f"n => {{ const [s, d] = ({seq})(); return s > n && d === s; }}", arg=before)
    return cards(page)


def cards(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#results .card",
        """els => els.map(e => ({id: e.dataset.videoId, start: +e.dataset.start, end: +e.dataset.end,
             peak: +e.dataset.peakTime, score: +e.dataset.score, text: e.innerText,
             name: e.querySelector('.card-folder').textContent + e.querySelector('.card-title').textContent,
             thumb: e.querySelector('img').naturalWidth, missing: !e.querySelector('.thumb-missing').hidden}))""",
    )


def fits_width(page) -> bool:
    """No sideways scrolling: the document is no wider than the window."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def serious_accessibility_violations(page) -> list[str]:
    """axe-core's violations of serious or critical impact on the page as it is now."""
    import axe_playwright_python

    source = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    page.evaluate(source)  # evaluated by the browser's debugger protocol: the page's CSP does not apply
    found = page.evaluate("() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
