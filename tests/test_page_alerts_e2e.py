"""The page's "Alerts and screen time" panel, in a real headless Chromium against a real `framesearch serve` with
the bundled tiny-shapes-clip: a standing search made through POST /alerts tells its new moment in the panel live
(the server-sent event stream, no reload) once a shapes video is uploaded, and the screen-time chart shows the same
total as GET /stats, on a phone-wide window without sideways scrolling."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.server import running_service
from tests.helpers.synthetic_video import write_shapes_video
from tests.helpers.web import Watched, browser_missing, chromium, fits_width, open_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests: {browser_missing()}"),
]
QUERY = "a red circle"
SCENES = [("square", "blue", "yellow", 2.0), ("circle", "red", "white", 3.0), ("triangle", "green", "black", 2.0)]


def test_a_standing_search_shows_its_new_moment_live_and_the_screen_time_chart_matches_stats(tmp_path):
    video = write_shapes_video(tmp_path / "broadcast.mp4", SCENES)
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store"), "FRAMESEARCH_MODEL": "tiny-shapes-clip"}
    with chromium() as browser, running_service(env, tmp_path / "serve.log") as service:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        watched = Watched(context, service.base)
        page = watched.page
        try:
            open_page(page, service.base)
            page.click("#watch-panel summary")
            page.wait_for_function("() => document.querySelector('#alerts-state').textContent.startsWith('Watching')")
            assert page.eval_on_selector_all("#alert-events li", "els => els.length") == 0
            made = httpx.post(f"{service.base}/alerts", json={"q": QUERY}, timeout=30)
            assert made.status_code == 201, made.text
            page.evaluate("() => { window.notReloaded = true; }")

            page.set_input_files("#video-input", [str(video)])
            page.wait_for_selector("#jobs .job[data-status=done]", timeout=120_000)
            page.wait_for_selector("#alert-events li", timeout=30_000)
            assert page.evaluate("() => window.notReloaded === true")  # the event came over the open stream
            told = page.eval_on_selector_all("#alert-events li", "els => els.map(e => e.textContent)")
            events = httpx.get(f"{service.base}/alerts/events", params={"stream": False, "after": 0}, timeout=30).json()
            assert len(told) == events["count"] >= 1
            assert all(e["alert_id"] == made.json()["id"] and e["video_id"] == "broadcast.mp4" for e in events["events"])
            first = events["events"][0]
            assert told[-1].startswith(f"“{QUERY}” in broadcast.mp4 at {first['start']:.1f}–{first['end']:.1f} s")
            assert first["start"] == pytest.approx(2.0, abs=0.6) and first["end"] == pytest.approx(5.0, abs=0.6)
            assert page.inner_text("#alert-count") == f"({len(told)} new)"

            page.fill("#stats-q", QUERY)
            page.click("#stats-form button[type=submit]")
            page.wait_for_function("() => document.querySelector('#stats-state').textContent.includes('on screen')")
            stats = httpx.get(f"{service.base}/stats", params={"q": QUERY}, timeout=30).json()
            assert stats["total_seconds"] > 0 and [r["key"] for r in stats["rows"]] == ["broadcast.mp4"]
            state = page.inner_text("#stats-state")
            assert state.startswith(f"{stats['total_seconds']:.1f} s on screen in {stats['moments']} moments")
            assert page.is_visible("#stats-chart")
            bars = page.eval_on_selector_all(
                "#stats-chart rect", "els => els.map(e => [e.querySelector('title').textContent, e.getBBox().width])"
            )
            row = stats["rows"][0]
            assert len(bars) == 1 and bars[0][0] == f"broadcast.mp4: {row['seconds']:.1f} s in {row['moments']} moments"
            assert bars[0][1] > 1
            assert fits_width(page)
        finally:
            context.close()
        watched.check()
