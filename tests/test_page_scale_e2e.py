"""The page with 10,000 videos (slow, browser): loading it and opening the filter or the library touch only what is
shown, so its DOM stays the size it is with 100 videos; the picker finds a video by typing, chosen videos are chips,
the library pages, sorts and searches through GET /videos pages. Timings go to bench/bench_page_scale.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from tests.helpers.library import build_library, library_vectors, measure_page, video_duration
from tests.helpers.server import running_service
from tests.helpers.web import answered, browser_missing, chromium, fits_width, serious_accessibility_violations

pytestmark = pytest.mark.slow
BIG, SMALL = 10_000, 100


@pytest.fixture(scope="module")
def libraries(tmp_path_factory, tiny_clip) -> dict[int, object]:
    root = tmp_path_factory.mktemp("scale")
    return {n: (root / f"s{n}", build_library(root / f"s{n}", n, tiny_clip.dim)) for n in (SMALL, BIG)}


def serve(folder, tiny_clip, log):
    if browser_missing():
        pytest.skip(f"browser tests: {browser_missing()}")
    env = {"FRAMESEARCH_STORE": str(folder), "FRAMESEARCH_MODEL": str(tiny_clip.model_path)}
    return running_service(env, log, timeout=240)  # opening a store of 10,000 videos takes a while on a loaded machine


def test_the_page_at_10000_videos_is_the_size_it_is_at_100(libraries, tiny_clip, tmp_path):
    measured = {}
    with chromium() as browser:
        for n, (folder, _) in libraries.items():
            with serve(folder, tiny_clip, tmp_path / f"serve{n}.log") as service:
                measure_page(browser, service.base)  # warm the service (first model load, first page read)
                measured[n] = measure_page(browser, service.base)
    big, small = measured[BIG], measured[SMALL]
    for key in ("dom_loaded", "dom_filter", "dom_library"):
        assert big[key] <= 1.5 * small[key], (key, big[key], small[key])
    for url in big["requests"]:  # page by page, never the whole library
        assert int(parse_qs(urlparse(url).query).get("limit", ["100"])[0]) <= 100, url
    assert len(big["requests"]) <= len(small["requests"]), (big["requests"], small["requests"])


def test_the_picker_finds_a_video_by_typing_and_shows_chips(libraries, tiny_clip, tmp_path):
    folder, ids = libraries[BIG]
    wanted = ids[9_876]
    with serve(folder, tiny_clip, tmp_path / "serve.log") as service, chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{service.base}/")
        page.wait_for_selector("body[data-ready=true]")
        page.evaluate("() => { document.querySelector('#filters').open = true; }")
        assert page.eval_on_selector_all("#videos input", "bs => bs.length") == 20
        assert "10,000" in page.inner_text("#videos-more")
        page.fill("#video-find", "v09876")
        page.wait_for_function("() => document.querySelector('#videos').dataset.query === 'v09876'")
        assert page.eval_on_selector_all("#videos input", "bs => bs.map(b => b.value)") == [wanted]
        page.check("#videos input")
        page.wait_for_selector(f'#video-chips li[data-video-id="{wanted}"]')
        assert page.inner_text("#videos-state") == "(1 of 10,000 selected)"
        page.fill("#video-find", "v00042")
        page.wait_for_function("() => document.querySelector('#videos').dataset.query === 'v00042'")
        page.check("#videos input")
        assert page.eval_on_selector_all("#video-chips li", "cs => cs.map(c => c.dataset.videoId)") == [wanted, ids[42]]
        page.fill("#q", "red")
        answered(page, lambda: page.press("#q", "Enter"))  # answered: axe sees the results, not them dimmed mid-search
        assert parse_qs(urlparse(page.url).query)["video"] == [wanted, ids[42]]
        assert fits_width(page)
        assert serious_accessibility_violations(page) == []
        page.click(f'#video-chips button[aria-label="Remove {wanted} from the filter"]')
        assert page.eval_on_selector_all("#video-chips li", "cs => cs.map(c => c.dataset.videoId)") == [ids[42]]
        page.fill("#video-find", "no such video")
        page.wait_for_function("() => document.querySelector('#videos').dataset.query === 'no such video'")
        assert page.inner_text("#videos-more") == "No video matches “no such video”."
        page.goto(f"{service.base}/?video={ids[7]}")  # an address's videos come back as chips
        page.wait_for_selector(f'#video-chips li[data-video-id="{ids[7]}"]', state="attached")  # in the closed filters


def rows(page) -> list[str]:
    return page.eval_on_selector_all("#library tbody tr", "rs => rs.map(r => r.dataset.videoId)")


def listed(page, action) -> list[str]:
    page.wait_for_selector("#library[data-fresh=true]")
    page.evaluate("() => { delete document.querySelector('#library').dataset.fresh; }")
    action()
    page.wait_for_selector("#library[data-fresh=true]")
    return rows(page)


def test_the_library_pages_sorts_and_searches(libraries, tiny_clip, tmp_path):
    folder, ids = libraries[BIG]
    by_name = sorted(ids)
    longest = sorted(range(len(ids)), key=lambda i: (-video_duration(i), ids[i]))
    with serve(folder, tiny_clip, tmp_path / "serve.log") as service, chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{service.base}/#library")
        page.wait_for_selector("#library[data-fresh=true] tbody tr")
        assert rows(page) == by_name[:100]
        assert page.inner_text("#library-range") == "1–100 of 10,000"
        assert listed(page, lambda: page.click("#library-next")) == by_name[100:200]
        assert page.inner_text("#library-range") == "101–200 of 10,000"
        assert listed(page, lambda: page.click("#library-prev")) == by_name[:100]
        assert listed(page, lambda: page.select_option("#library-sort", "duration"))[:3] == [ids[i] for i in longest[:3]]
        found = listed(page, lambda: page.fill("#library-find", "v0432"))
        assert sorted(found) == sorted(v for v in ids if "v0432" in v) and len(found) == 10
        assert page.inner_text("#library-range") == "1–10 of 10" and page.is_hidden("#library-pager")
        assert fits_width(page)
        assert serious_accessibility_violations(page) == []


def test_a_search_over_1000_ids_or_a_prefix_is_what_brute_force_finds(libraries, tiny_clip):
    from fastapi.testclient import TestClient

    from framesearch.service.app import create_app
    from framesearch.settings import Settings

    folder, ids = libraries[BIG]
    vectors = library_vectors(len(ids), tiny_clip.dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rng = np.random.default_rng(5)

    def brute_force(query: np.ndarray, chosen: list[int], k: int = 10) -> list[str]:
        scores = vectors[chosen] @ query
        return [ids[chosen[j]] for j in sorted(range(len(chosen)), key=lambda j: -scores[j])[:k]]

    thousand = sorted(rng.choice(len(ids), 1_000, replace=False).tolist())
    holidays = [i for i, v in enumerate(ids) if v.startswith("holidays/")]
    with TestClient(create_app(Settings(store=folder, model=str(tiny_clip.model_path)))) as client:
        for _ in range(3):
            query = rng.standard_normal(tiny_clip.dim).astype(np.float32)
            query /= np.linalg.norm(query)
            body = {"vector": query.tolist(), "mode": "frames", "threshold": -1.0, "limit": 10}
            listed = client.post("/search", json={**body, "video_id": [ids[i] for i in thousand]}).json()
            assert [r["video_id"] for r in listed["results"]] == brute_force(query, thousand)
            under = client.post("/search", json={**body, "under": "holidays/"}).json()
            assert [r["video_id"] for r in under["results"]] == brute_force(query, holidays)
