"""The page and GET /videos with a library of 10,000 videos beside the same with 100 (issue 26).

    python bench/bench_page_scale.py [--videos 10000] [--tries 3] [--quick] [--json-out F]

Two Qdrant Edge stores of one-frame videos (no video files) are written through the product's own indexing
(tests/helpers/library.py), each served by `framesearch serve`; a headless Chromium (Debian's /usr/bin/chromium,
through Playwright) loads the page, opens its filter and its library tab. It prints, at the full size against
100 videos, measured in the same run:

- the page's time to interactive (goto until the page marks itself ready; median of --tries) and the library
  tab's first page (goal: both within 1.5x);
- the page's DOM size when loaded, with the filter open and on the library tab (goal: within 1.5x; the browser
  test tests/test_page_scale_e2e.py asserts this bound, the timings are only reported here);
- one GET /videos page of 100 from the middle of the library, by name, over HTTP (median of 20; goal <= 5x), and
  the same right after a write to the library (a DELETE /videos/{id} before each; the store's listing takes each
  write, so this page reads no more records than any other).

--quick: 2,000 videos instead of 10,000. Without Playwright or Chromium it says so and exits 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from report import Row, add_output_args, emit, machine  # noqa: E402

BASELINE = 100
DIM = 8


def page_seconds(base: str, total: int, tries: int = 20, write: bool = False) -> float:
    """Median seconds of GET /videos?limit=100 from the middle of the library (over HTTP, JSON parsed); with `write`,
    each right after a write to the library (DELETE /videos/{id} of one of the shortest videos)."""
    import httpx

    times = []
    with httpx.Client(base_url=base, timeout=60) as client:
        shortest = client.get("/videos", params={"limit": tries, "sort": "duration"}).json()["videos"][::-1]
        for k in range(tries):
            if write:
                client.delete(f"/videos/{shortest[k]['video_id']}").raise_for_status()
                total -= 1
            start = time.perf_counter()
            answer = client.get("/videos", params={"limit": 100, "cursor": str(total // 2)})
            answer.raise_for_status()
            times.append(time.perf_counter() - start)
            assert (answer.json()["count"], answer.json()["total"]) == (min(100, total - total // 2), total)
    return statistics.median(times)


def measure(folder: Path, count: int, tries: int, browser, log: Path) -> dict:
    """The page's figures (medians over `tries` loads after one to warm up) and the GET /videos page time."""
    from tests.helpers.library import measure_page
    from tests.helpers.server import running_service

    with running_service({"FRAMESEARCH_STORE": str(folder)}, log, timeout=300) as service:
        measure_page(browser, service.base)
        runs = [measure_page(browser, service.base) for _ in range(tries)]
        api = page_seconds(service.base, count)
        after_write = page_seconds(service.base, count, write=True)
    figures = {key: statistics.median(r[key] for r in runs) for key in ("tti_ms", "library_ms")}
    figures |= {key: runs[-1][key] for key in ("dom_loaded", "dom_filter", "dom_library")}
    return figures | {"api_ms": api * 1000, "write_ms": after_write * 1000, "requests": len(runs[-1]["requests"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--tries", type=int, default=3)
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.videos = 2_000
    from tests.helpers.library import build_library
    from tests.helpers.web import browser_missing, chromium

    if browser_missing():
        sys.exit(f"bench_page_scale needs a browser: {browser_missing()}")
    print(f"Machine: {machine()}. The page at {args.videos} videos against {BASELINE}.", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, chromium() as browser:
        for n in (BASELINE, args.videos):
            start = time.perf_counter()
            build_library(Path(tmp) / f"s{n}", n, DIM)
            print(f"  built {n} videos in {time.perf_counter() - start:.0f} s", flush=True)
            figures[n] = measure(Path(tmp) / f"s{n}", n, args.tries, browser, Path(tmp) / f"serve{n}.log")
    big, small = figures[args.videos], figures[BASELINE]
    print(
        f"GET /videos requests while loading the page and its library tab: {big['requests']} ({small['requests']} at {BASELINE})"
    )
    n, base = f"{args.videos:,} videos", f"{BASELINE} videos"
    rows = [Row("page scale", f"page time to interactive, {n}", big["tti_ms"], "ms", small["tti_ms"], base, "<= 1.5x",
                big["tti_ms"] <= 1.5 * small["tti_ms"]),
            Row("page scale", f"library tab's first page shown, {n}", big["library_ms"], "ms", small["library_ms"], base,
                "<= 1.5x", big["library_ms"] <= 1.5 * small["library_ms"])]  # fmt: skip
    for key, what in (("dom_loaded", "loaded"), ("dom_filter", "filter open"), ("dom_library", "library tab")):
        rows.append(Row("page scale", f"DOM elements, {what}, {n}", big[key], "", small[key], base, "<= 1.5x",
                        big[key] <= 1.5 * small[key]))  # fmt: skip
    rows.append(Row("page scale", f"GET /videos page of 100 over HTTP, {n}", big["api_ms"], "ms", small["api_ms"], base,
                    "<= 5x", big["api_ms"] <= 5 * small["api_ms"]))  # fmt: skip
    rows.append(Row("page scale", f"GET /videos page of 100 over HTTP right after a write, {n}", big["write_ms"], "ms",
                    small["api_ms"], f"a page at {base}", "<= 5x", big["write_ms"] <= 5 * small["api_ms"]))  # fmt: skip
    rows.append(Row("page scale", f"GET /videos page of 100 over HTTP right after a write, {n}", big["write_ms"], "ms",
                    small["write_ms"], f"the same at {base}", "<= 5x", big["write_ms"] <= 5 * small["write_ms"]))  # fmt: skip
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
