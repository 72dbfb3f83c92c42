"""The search page in a real headless Chromium against a real `framesearch serve`, over videos rendered here (no
shared media): old codecs play after the service prepares a copy, the threshold shown is the one in force, a hit
plays from a lead-in before its best frame with the score timeline under it, the phone layout, errors in words,
the keyboard, the empty library and accessibility (axe-core: nothing serious or critical).

story.mp4 (solid colours, 10 fps): blue 0-3 s, pink fading to red 3-11 s, blue 11-14 s, red 14-16 s, blue 16-18 s.
For "red" its first moment starts near 5.5 s and peaks near 10.4 s (so it plays from about 8.4 s), its second is
14-16 s. The old-codec videos show solid yellow 0-2 s, so "yellow" finds them.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers.codec_videos import write_colour_story, write_old_codec_video
from tests.helpers.server import running_service
from tests.helpers.web import (
    Watched,
    answered,
    browser_missing,
    cards,
    chromium,
    fits_width,
    index_videos,
    open_page,
    serious_accessibility_violations,
)

BLUE, RED, PINK = (30, 60, 200), (230, 20, 20), (200, 150, 150)
STORY = [(BLUE, BLUE, 3), (PINK, RED, 8), (BLUE, BLUE, 3), (RED, RED, 2), (BLUE, BLUE, 2)]
OLD_SCENES = [("square", "yellow", "yellow", 2.0), ("circle", "white", "black", 2.0), ("triangle", "green", "black", 2.0)]
INTERNALS = re.compile(r"0x[0-9a-f]|<|>|HTTP|\b[45]\d\d\b|Error\b|Traceback|InvalidInput|BytesIO", re.IGNORECASE)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests: {browser_missing()}"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip_dir, sample_video):
    root = tmp_path_factory.mktemp("page")
    videos = {"story.mp4": write_colour_story(root / "story.mp4", STORY), "shapes.mp4": sample_video}
    for codec in ("cinepak", "mpeg2"):
        videos[f"old/{codec}"] = write_old_codec_video(root, codec, OLD_SCENES)
    index_videos(root / "store", tiny_clip_dir, videos, fps=3.0)
    env = {"FRAMESEARCH_STORE": str(root / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, root / "serve.log") as service:
        yield service.base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def watched(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = Watched(context, server)
    yield page
    context.close()
    page.check()


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = Watched(context, server)
    yield page
    context.close()
    page.check()


def card_of(page, video_id: str, after: float = -1.0) -> dict:
    return next(c for c in cards(page) if c["id"] == video_id and c["start"] > after)


def video_time(page) -> float:
    return page.evaluate("() => document.getElementById('video').currentTime")


def started_at(page) -> float:
    """Where the player started playing (it plays on at once)."""
    return page.evaluate("() => +document.getElementById('video').dataset.seekedAt")


def play(page, video_id: str, after: float = -1.0) -> dict:
    """Click the first card of `video_id` starting after `after`; wait until the player has sought; pause it."""
    card = card_of(page, video_id, after)
    page.locator(f'#results .card[data-video-id="{video_id}"][data-start="{card["start"]}"] .card-play').click()
    page.wait_for_selector("#video[data-state=ready]")
    page.evaluate("() => document.getElementById('video').pause()")
    return card


def test_old_codecs_play_after_the_service_prepares_a_copy(watched, server):
    page = watched.page
    answers: list[tuple[str, int, str]] = []
    page.on("response", lambda r: "/play" in r.url and answers.append((r.url, r.status, r.headers.get("content-type", ""))))
    open_page(page, server, "?q=yellow")
    page.wait_for_selector('#results .card[data-video-id="old/cinepak"]')
    for codec in ("cinepak", "mpeg2"):
        card = card_of(page, f"old/{codec}")
        page.locator(f'#results .card[data-video-id="old/{codec}"] .card-play').first.click()
        page.wait_for_function("() => document.getElementById('player-note').textContent.includes('Preparing playback')")
        page.wait_for_selector("#video[data-state=ready]")
        state = page.evaluate("""() => { const v = document.getElementById('video');
            return {width: v.videoWidth, error: v.error && v.error.code, src: v.currentSrc, duration: v.duration}; }""")
        assert state["width"] > 0 and state["error"] is None and state["src"].endswith(f"/videos/old/{codec}/play")
        assert 5.0 < state["duration"] < 7.0 and started_at(page) >= card["start"] - 0.05
        mine = [a for a in answers if f"/old/{codec}/play" in a[0]]
        assert mine[0][1] == 202 and any(s in (200, 206) and t == "video/mp4" for _, s, t in mine)
        assert page.is_hidden("#player-note")


def test_the_threshold_shown_is_the_one_in_force(watched, server):
    page = watched.page
    config = httpx.get(f"{server}/config").json()["threshold"]
    applied = httpx.get(f"{server}/search", params={"q": "red"}).json()
    open_page(page, server)
    assert config["kind"] == "calibrated" and applied["min_confidence"] == config["default"]
    assert float(page.input_value("#threshold")) == config["default"]
    assert page.inner_text("#threshold-name") == "Minimum confidence"
    label = [b["label"] for b in config["bands"] if b["start"] <= config["default"]][-1]
    assert label in page.inner_text("#threshold-hint") and "(the default)" in page.inner_text("#threshold-hint")
    answered(page, lambda: (page.fill("#q", "red"), page.press("#q", "Enter")))
    assert page.inner_text("#threshold-value") == f"{applied['min_confidence']:.2f}"
    assert f"confidence {applied['min_confidence']:.2f}" in page.inner_text("#status")
    with page.expect_response("**/search") as searched:
        answered(page, lambda: (page.fill("#threshold", "0.9"), page.dispatch_event("#threshold", "change")))
    assert searched.value.json()["min_confidence"] == 0.9 and "min_confidence=0.9" in page.url
    strict = [b["label"] for b in config["bands"] if b["start"] <= 0.9][-1]
    assert strict in page.inner_text("#threshold-hint") and "default" not in page.inner_text("#threshold-hint")


def test_a_hit_plays_from_before_its_best_frame_with_the_timeline(watched, server):
    page = watched.page
    open_page(page, server, "?q=red")
    page.wait_for_selector('#results .card[data-video-id="story.mp4"]')
    first = min((c for c in cards(page) if c["id"] == "story.mp4"), key=lambda c: c["start"])
    assert first["peak"] - first["start"] > 3  # a long moment whose best frame is well inside it
    with page.expect_request(lambda r: "/videos/story.mp4/timeline?" in r.url and "q=red" in r.url):
        play(page, "story.mp4", after=first["start"] - 0.01)
    assert started_at(page) == pytest.approx(first["peak"] - 2, abs=0.2)
    page.wait_for_selector("#timeline[data-source=service]")
    assert page.get_attribute("#timeline", "data-segments") == "2" and page.locator("#marks .mark").count() == 2
    assert page.locator("#marks .mark.current").count() == 1
    page.keyboard.press("ArrowRight")  # the next moment, 14-16 s: its best frame is its start
    assert video_time(page) == pytest.approx(14.0, abs=0.35)
    assert "Moment 2 of 2" in page.inner_text("#player-info")
    page.keyboard.press("ArrowLeft")
    assert video_time(page) == pytest.approx(first["peak"] - 2, abs=0.35)
    box = page.locator("#timeline").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    duration = page.evaluate("() => document.getElementById('video').duration")
    assert video_time(page) == pytest.approx(duration * 0.25, abs=0.5)
    page.keyboard.press("Escape")
    assert page.is_hidden("#player")
    focused = page.evaluate("() => [document.activeElement.className, document.activeElement.closest('.card')?.dataset.start]")
    assert focused == ["card-play", str(first["start"])]


def test_phone_layout_fits_every_view(phone, server):
    page = phone.page
    open_page(page, server, "?q=red")
    page.wait_for_selector("#results .card img")
    height = page.evaluate("() => window.innerHeight")
    assert fits_width(page) and page.locator("#results .card").first.bounding_box()["y"] < height / 2
    play(page, "story.mp4")
    box = page.locator("#player").bounding_box()
    assert fits_width(page) and box["y"] >= -1 and box["y"] + box["height"] <= height  # the whole player on screen
    page.locator("#filters summary").click()
    assert fits_width(page)
    phone.allow("status of 422")
    page.set_input_files("#image-input", files=[{"name": "fake.png", "mimeType": "image/png", "buffer": b"not a png"}])
    page.wait_for_selector("#search-error:not([hidden])")
    assert fits_width(page)
    page.click("#tab-library")
    page.wait_for_selector('#library[data-fresh=true] tr[data-video-id="old/cinepak"]')
    assert fits_width(page)  # and Delete is reachable without scrolling sideways:
    page.wait_for_function("""() => { const b = document.querySelector('#library tr[data-video-id="old/cinepak"] button.danger');
        const box = b && b.getBoundingClientRect(); return box && box.width > 0 && box.right <= window.innerWidth; }""")


def test_errors_are_sentences_next_to_the_action(watched, server):
    page = watched.page
    watched.allow("status of 422")
    watched.allow("net::ERR_FAILED")
    open_page(page, server)
    page.set_input_files("#image-input", files=[{"name": "fake.png", "mimeType": "image/png", "buffer": b"not a png"}])
    page.wait_for_selector("#search-error:not([hidden])")
    said = page.inner_text("#search-error")
    assert "not an image" in said and "JPEG" in said and said.endswith(".") and not INTERNALS.search(said), said
    page.route("**/search", lambda route: route.abort())
    answered(page, lambda: (page.fill("#q", "red"), page.press("#q", "Enter")))
    said = page.inner_text("#search-error")
    assert "service is not reachable" in said and not INTERNALS.search(said), said
    page.unroute("**/search")
    assert answered(page, lambda: page.press("#q", "Enter")) and page.is_hidden("#search-error")


def test_slash_selects_the_query_so_typing_replaces_it(watched, server):
    page = watched.page
    open_page(page, server)
    page.fill("#q", "a green star")
    page.locator("#tab-search").focus()
    page.keyboard.press("/")
    page.keyboard.type("a red triangle")
    assert page.input_value("#q") == "a red triangle"


def test_results_dim_with_a_progress_bar_while_searching(watched, server):
    page = watched.page
    open_page(page, server, "?q=red")
    page.wait_for_selector("#results .card")
    during = page.evaluate("""() => { document.getElementById('search-form').requestSubmit();
        const r = document.getElementById('results');
        return [r.getAttribute('aria-busy'), !document.getElementById('search-progress').hidden,
                Number(getComputedStyle(r).opacity), document.querySelectorAll('#results .card').length]; }""")
    assert during[0] == "true" and during[1] and during[2] < 0.6 and during[3] > 0
    page.wait_for_selector("#search-progress", state="hidden")
    assert page.evaluate("() => getComputedStyle(document.getElementById('results')).opacity") == "1"


def test_more_like_this_keeps_its_source_in_the_address(watched, server):
    page = watched.page
    open_page(page, server, "?q=red")
    page.wait_for_selector('#results .card[data-video-id="story.mp4"]')
    source = card_of(page, "story.mp4")
    answered(page, lambda: page.locator('#results .card[data-video-id="story.mp4"] .more').first.click())
    assert "like=story.mp4" in page.url and re.search(r"[?&]frame=\d+", page.url) and "q=red" in page.url
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#results[data-done]")
    assert "frames like story.mp4" in page.inner_text("#query-chip-text") and page.input_value("#q") == "red"
    assert any(c["id"] == "story.mp4" and c["start"] <= source["peak"] <= c["end"] for c in cards(page))


def test_no_serious_accessibility_violations(browser, server):
    for viewport in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
        context = browser.new_context(viewport=viewport)
        watched = Watched(context, server)
        page = watched.page
        try:
            open_page(page, server, "?q=red")
            page.wait_for_selector("#results .card")
            assert serious_accessibility_violations(page) == []
            play(page, "story.mp4")
            page.wait_for_selector("#timeline[data-source=service]")
            assert serious_accessibility_violations(page) == []
            page.click("#tab-library")
            page.wait_for_selector("#library[data-fresh=true] tbody tr")
            assert serious_accessibility_violations(page) == []
        finally:
            context.close()
        watched.check()


def test_a_first_visit_to_an_empty_library_explains_the_next_step(browser, tmp_path, tiny_clip_dir):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log") as service:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        watched = Watched(context, service.base)
        try:
            open_page(watched.page, service.base)
            welcome = watched.page.inner_text("#welcome")
            assert "framesearch demo" in welcome and "framesearch ingest local" in welcome
            assert fits_width(watched.page) and serious_accessibility_violations(watched.page) == []
        finally:
            context.close()
        watched.check()


def test_searching_an_empty_library_says_how_to_add_videos(browser, tmp_path):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store")}  # no model anywhere: the library has none yet
    with running_service(env, tmp_path / "serve.log") as service:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        watched = Watched(context, service.base)
        watched.allow("status of 409")
        try:
            page = watched.page
            open_page(page, service.base)
            answered(page, lambda: (page.fill("#q", "a red circle"), page.press("#q", "Enter")))
            said = page.inner_text("#search-error")
            assert "library is empty" in said and "framesearch ingest local ~/Videos --recursive" in said, said
            assert "no model given" not in said and "Change the query" not in said
        finally:
            context.close()
        watched.check()
