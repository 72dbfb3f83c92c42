"""The search page against a service that needs a key, in a real headless Chromium: it asks for the key when the
service answers 401, keeps it for the tab, and thumbnails and playback work through the media session cookie."""

from __future__ import annotations

import pytest

from tests.helpers.server import running_service
from tests.helpers.web import browser_missing, chromium, fits_width, index_videos

KEY = "page-key-51c0d2"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests: {browser_missing()}"),
]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, tiny_clip_dir, sample_video):
    root = tmp_path_factory.mktemp("keyed")
    index_videos(root / "store", tiny_clip_dir, {"bikes": sample_video}, fps=2.0)
    env = {"FRAMESEARCH_STORE": str(root / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir), "FRAMESEARCH_API_KEY": KEY}
    with running_service(env, root / "serve.log") as service:
        yield service.base


def enter_key(page, key: str) -> None:
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")


def test_the_page_asks_for_the_key_keeps_it_for_the_tab_and_plays_media(keyed_server):
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(15_000)
        page.goto(keyed_server)
        enter_key(page, "wrong")
        page.wait_for_function("() => document.querySelector('#key-message').textContent.includes('refused')")
        enter_key(page, KEY)
        page.wait_for_selector("body[data-ready=true]")
        assert page.eval_on_selector_all("#videos input", "bs => bs.map(b => b.value)") == ["bikes"]

        page.fill("#q", "white")
        page.fill("#threshold", "0.5")
        page.press("#q", "Enter")
        page.wait_for_selector("#results .card img")
        page.wait_for_function("() => document.querySelector('#results .card img').naturalWidth > 0")  # cookie
        page.click("#results .card .card-play")
        page.wait_for_selector("#video[data-state=ready]")  # the file, with range requests, through the cookie

        page.reload()  # the tab keeps its key: no question this time
        page.wait_for_selector("body[data-ready=true]")
        assert not page.is_visible("#key-dialog")
        assert page.eval_on_selector_all("#videos input", "bs => bs.length") == 1

        other_tab = context.new_page()  # another tab asks again (sessionStorage is per tab)
        other_tab.set_viewport_size({"width": 390, "height": 844})
        other_tab.goto(keyed_server)
        other_tab.wait_for_selector("#key-dialog[open]")
        assert fits_width(other_tab)
        assert not errors, errors
