"""Make docs/screenshot.png: index a few real videos, serve them, search in headless Chromium, play the best result
(with its score timeline under the player) and screenshot the page.

    python docs/make_screenshot.py [--model DIR] [--query TEXT] [--threshold X] [--out docs/screenshot.png]

Without --threshold the service's default (a calibrated confidence) applies; --threshold is a raw cosine score.

Without --model it uses the hand-built tiny colour CLIP of the tests (it knows colour words only, so the
default query is a colour). Needs `pip install -r requirements-e2e.txt` and Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.tiny_clip import build_tiny_clip  # noqa: E402
from tests.helpers.web import browser_missing, chromium, index_videos, serve  # noqa: E402

VIDEOS = ROOT.parent / "shared" / "media" / "videos"
DEMO = {
    "cartoons/big_buck_bunny_0_30.webm": "big_buck_bunny_0_30.webm",
    "street/bikes.mp4": "bikes.mp4",
    "street/car-detection.mp4": "car-detection.mp4",
    "studio/box.mp4": "box.mp4",
    "studio/cockatoo.mp4": "cockatoo.mp4",
    "nature/flower.mp4": "flower.mp4",
    "campus/vtest.avi": "vtest.avi",
}


def shoot(base: str, query: str, threshold: float | None, out: Path) -> int:
    """Search, play the best playable result with its timeline, and save a screenshot; returns the number of results."""
    from urllib.parse import urlencode

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        params = {"q": query, **({"threshold": threshold} if threshold is not None else {})}
        page.goto(f"{base}/?{urlencode(params)}")
        page.wait_for_selector("body[data-ready=true]")
        answered = "() => { const d = document.querySelector('#results').dataset; return d.done && d.done === d.started; }"
        page.wait_for_function(answered)
        count = page.locator("#results .card").count()
        if count:
            page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete)")
            page.click("#results .card:not(.no-file) .card-play")
            page.wait_for_selector("#video[data-state=ready]", timeout=120_000)
            page.wait_for_selector("#timeline[data-segments]")
            page.evaluate("() => document.getElementById('video').pause()")
            page.evaluate("() => window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
        page.screenshot(path=str(out), full_page=False)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="CLIP model folder (default: the tests' tiny colour CLIP)")
    parser.add_argument("--query", default="green")
    parser.add_argument("--threshold", type=float, default=None, help="raw cosine floor (default: the service's)")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    if reason := browser_missing():
        print(f"cannot take a screenshot: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="framesearch-shot-") as tmp:
        work = Path(tmp)
        model = args.model or build_tiny_clip(work / "tiny-colour-clip")
        videos = {vid: VIDEOS / name for vid, name in DEMO.items() if (VIDEOS / name).is_file()}
        if not videos:
            print(f"no demo videos under {VIDEOS}", file=sys.stderr)
            return 1
        index_videos(work / "store", model, videos, fps=args.fps)
        with serve(work / "store", model, work / "serve.log") as base:
            count = shoot(base, args.query, args.threshold, args.out)
    print(f"wrote {args.out}: {count} results for {args.query!r} over {len(videos)} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
