"""The search page in a real headless Chromium, against a real `framesearch serve` over indexed videos rendered
here with PyAV (no shared media needed), in the codecs the page meets: VP8 WebM, H.264 MP4, MS-MPEG4v3 AVI.

The tiny colour CLIP embeds a frame by its mean colour: in the 30 s "bunny" WebM only the yellow "creek"
(cut in at 11.8 s, out at 15.7 s) scores above 0.8 for "yellow"; a results-only import of four solid
yellow frames (no video file) scores 1.0. The bunny's brown and the flower's red score above 0.55 for "red".
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import results_json
from tests.helpers.synthetic_video import write_colour_video
from tests.helpers.tiny_clip import solid_frame
from tests.helpers.web import (
    Watched,
    answered,
    browser_missing,
    cards,
    chromium,
    fits_width,
    index_videos,
    open_page,
    serve,
)

BUNNY = "bunny/big_buck_bunny_0_30.webm"
FLOWER = "flower.mp4"
VTEST = "campus/vtest.avi"  # MS-MPEG4v3: browsers cannot decode it; /play serves an H.264 copy
CREEK = (11.8, 15.7)
# id -> (file name, colour runs, write_colour_video options)
RENDERED = {
    BUNNY: ("bunny.webm", [("blue", 11.8), ("yellow", 3.9), ("brown", 7.3), ("green", 7.0)], {"codec": "libvpx"}),
    FLOWER: ("flower.mp4", [("red", 2.5), ("pink", 2.6)], {}),
    VTEST: ("vtest.avi", [("gray", 40.0), ("green", 39.5)], {"codec": "msmpeg4", "container_format": "avi", "size": (768, 576)}),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests: {browser_missing()}"),
]


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def fmt(t: float) -> str:
    """The page's time format (m:ss.s)."""
    return f"{int(t // 60)}:{t % 60:04.1f}"


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Video id -> the rendered file."""
    root = tmp_path_factory.mktemp("videos")
    return {key: write_colour_video(root / name, runs, **options) for key, (name, runs, options) in RENDERED.items()}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip_dir, tiny_clip, videos):
    root = tmp_path_factory.mktemp("e2e")
    index_videos(root / "store", tiny_clip_dir, videos, fps=3.0)
    with serve(root / "store", tiny_clip_dir, root / "serve.log") as base:
        import httpx

        vectors = tiny_clip.embed_images([solid_frame("yellow")] * 4).tolist()
        doc = results_json([0, 12, 24, 36], [0.0, 0.5, 1.0, 1.5], vectors)
        r = httpx.post(f"{base}/videos/imported/results", json=doc, params={"model": "tests/tiny-colour-clip", "fps": 2})
        assert r.status_code == 201, r.text
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def watched(browser, server):
    """A fresh page that may fetch from the server only; page errors, console errors and outside requests fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = Watched(context, server)
    yield page
    context.close()
    page.check()


@pytest.fixture
def page(watched):
    return watched.page


def search(page, text: str, threshold: float) -> list[dict]:
    """Search with a raw cosine threshold (an address's `threshold` puts the slider on the cosine scale)."""
    page.goto(f"{page.url.split('?')[0].split('#')[0]}?q={text}&threshold={threshold}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => { const d = document.querySelector('#results').dataset; return d.done === d.started; }")
    assert page.inner_text("#threshold-name") == "Match threshold" and page.input_value("#threshold") == str(threshold)
    return cards(page)


def player_time(page) -> float:
    """Where the player started playing (it plays on at once)."""
    page.wait_for_selector("#video[data-state=ready]")
    return page.evaluate("() => { const v = document.getElementById('video'); v.pause(); return +v.dataset.seekedAt; }")


def lead_in(card: dict) -> float:
    """Where the player starts: 2 s before the best frame, not before the moment."""
    return max(card["start"], card["peak"] - 2)


def test_search_shows_moments_best_first_and_plays_one(page, server, tmp_path):
    open_page(page, server)
    found = search(page, "yellow", 0.8)
    assert [c["id"] for c in found] == ["imported", BUNNY]
    imported, creek = found
    # frames 0-1.5 s at 2 fps, results without a video to cut: the moment ends half an interval after its last frame
    assert (imported["start"], imported["end"]) == (0.0, 1.75) and imported["missing"]
    assert "video file not available" in imported["text"] and f"0:00.0 – {fmt(1.75)}" in imported["text"]
    assert imported["name"] == "imported"
    assert CREEK[0] - 0.3 <= creek["start"] <= CREEK[0] + 0.3 and CREEK[1] - 0.5 <= creek["end"] <= CREEK[1] + 0.1
    assert f"{fmt(creek['start'])} – {fmt(creek['end'])}" in creek["text"] and creek["name"] == BUNNY
    assert 0.8 <= creek["score"] < imported["score"] == 1.0
    page.wait_for_function(f"() => document.querySelector('.card[data-video-id=\"{BUNNY}\"] img').naturalWidth > 0")
    assert "q=yellow" in page.url and "threshold=0.8" in page.url

    page.click(f'.card[data-video-id="{BUNNY}"] .card-play')
    assert player_time(page) == pytest.approx(lead_in(creek), abs=0.3) and lead_in(creek) >= creek["start"]
    assert BUNNY in page.inner_text("#player-title")
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    assert (tmp_path / "search.png").stat().st_size > 10_000


def test_keyboard_play_and_more_like_this(page, server):
    open_page(page, server, "?q=yellow&threshold=0.8")
    page.wait_for_selector("#results[data-done]")
    assert page.input_value("#q") == "yellow"
    page.focus(f'.card[data-video-id="{BUNNY}"] .card-play')
    page.keyboard.press("Enter")
    creek = next(c for c in cards(page) if c["id"] == BUNNY)
    assert player_time(page) == pytest.approx(lead_in(creek), abs=0.3)
    page.keyboard.press("Escape")
    assert page.is_hidden("#player")
    assert page.evaluate("() => document.activeElement.closest('.card')?.dataset.videoId") == BUNNY

    similar = answered(page, lambda: page.click(f'.card[data-video-id="{BUNNY}"] .more'))
    assert "frames like" in page.inner_text("#status") and "like=bunny" in page.url and "q=yellow" in page.url
    assert similar[0]["id"] == BUNNY and similar[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert similar[0]["start"] <= creek["peak"] <= similar[0]["end"]
    assert page.is_visible("#query-chip")


def test_image_query_by_file_and_by_drop(page, server, videos, tmp_path):
    from framesearch.ingest.video import frame_at

    open_page(page, server, "?threshold=0.95")
    shot = tmp_path / "creek.png"
    shot.write_bytes(png_bytes(frame_at(videos[BUNNY], 13.0, 360)))
    first = answered(page, lambda: page.set_input_files("#image-input", str(shot)))[0]
    assert "image creek.png" in page.inner_text("#status")
    assert first["id"] == BUNNY and first["start"] <= 13.0 <= first["end"]

    yellow = base64.b64encode(png_bytes(solid_frame("yellow", (64, 48)))).decode()
    drop = """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: "image/png"}));
            for (const type of ["dragenter", "dragover", "drop"]) {
                document.body.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
            }
        }"""
    dropped = answered(page, lambda: page.evaluate(drop, [yellow, "yellow.png"]))
    assert "image yellow.png" in page.inner_text("#status")
    assert dropped[0]["id"] == "imported" and page.is_hidden("#drop-overlay")


def test_video_filter_limits_results(page, server):
    open_page(page, server)
    unfiltered = search(page, "red", 0.55)
    assert {c["id"] for c in unfiltered} >= {FLOWER, BUNNY}
    filtered = answered(page, lambda: page.check(f'#videos input[value="{FLOWER}"]'))
    assert {c["id"] for c in filtered} == {FLOWER} and "video=flower.mp4" in page.url
    assert page.inner_text("#videos-state") == "(1 of 4 selected)" and page.is_visible("#videos-clear")
    page.reload()  # the selection comes back from the address, listed first
    page.wait_for_selector("body[data-ready=true]")
    assert page.eval_on_selector_all("#videos input", "bs => bs.map(b => [b.value, b.checked])")[0] == [FLOWER, True]
    everything = answered(page, lambda: page.click("#videos-clear"))
    assert {c["id"] for c in everything} >= {FLOWER, BUNNY} and "video=" not in page.url


def test_an_ms_mpeg4_video_plays_from_play(page, server):
    open_page(page, server, "?q=green&threshold=0.3")
    page.wait_for_selector(f'#results .card[data-video-id="{VTEST}"]')
    page.locator(f'#results .card[data-video-id="{VTEST}"] .card-play').first.click()
    page.wait_for_function("() => document.getElementById('player-note').textContent.includes('Preparing playback')")
    page.wait_for_selector("#video[data-state=ready]", timeout=60_000)
    state = page.evaluate("""() => { const v = document.getElementById('video'); v.pause();
                                     return [v.videoWidth, v.videoHeight, v.currentSrc, v.duration]; }""")
    assert state[:2] == [768, 576] and state[2].endswith(f"/videos/{VTEST}/play") and state[3] == pytest.approx(79.5, abs=0.2)


def test_small_screens_fit_without_sideways_scroll(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        watched = Watched(context, server)
        pg = watched.page
        open_page(pg, server, "?q=yellow&threshold=0.8")
        pg.wait_for_function(f"() => document.querySelector('.card[data-video-id=\"{BUNNY}\"] img')?.naturalWidth > 0")
        assert fits_width(pg)
        pg.locator(f'.card[data-video-id="{BUNNY}"] .card-play').click()
        pg.wait_for_selector("#video[data-state=ready]")
        assert fits_width(pg)
        pg.screenshot(path=str(tmp_path / "mobile.png"), full_page=True)
        pg.click("#tab-library")
        pg.wait_for_selector(f'#library tr[data-video-id="{VTEST}"]')
        assert fits_width(pg)
    finally:
        context.close()
    watched.check()


def test_library_lists_videos_and_deletes_one(page, server):
    open_page(page, server, "#library")
    page.wait_for_selector(f'#library tr[data-video-id="{FLOWER}"]')
    rows = page.eval_on_selector_all("#library tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))")
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {BUNNY, FLOWER, VTEST, "imported"}
    assert by_id[BUNNY][1] == "0:30.0" and by_id[BUNNY][2] == "90"
    assert by_id[BUNNY][3] == "tests/tiny-colour-clip" and by_id[BUNNY][4] == "local"
    assert by_id["imported"][4] == "results (no video file)"
    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click(f'#library tr[data-video-id="{FLOWER}"] button')
    page.wait_for_selector(f'#library tr[data-video-id="{FLOWER}"]', state="detached")
    assert FLOWER in messages[0] and "Deleted flower.mp4" in page.inner_text("#library-status")
    # the search filters' list of videos is fetched again after the delete (asynchronously): it drops the video
    page.wait_for_function(
        "v => ![...document.querySelectorAll('#videos input')].some(b => b.value === v)", arg=FLOWER, timeout=10_000
    )
    assert FLOWER not in page.eval_on_selector_all("#videos input", "bs => bs.map(b => b.value)")
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "q" and page.is_hidden("#view-library")
    page.click("#tab-library")
    page.wait_for_selector("#view-library", state="visible")
    page.click("#tab-search")
    page.wait_for_selector("#q", state="visible")
