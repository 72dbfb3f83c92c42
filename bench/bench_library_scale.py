"""Ingest stays linear as the library grows: the last batch of videos costs what the first did.

    python bench/bench_library_scale.py [--videos 10000] [--batch 1000] [--frames 4] [--dim 512] [--page-baseline 500]
                                        [--quick] [--json-out F]

A library of many short videos (a few frames each) is built with the product's own ingest
(`ingest_parsed_results`, what `framesearch ingest results` runs for each file: every check, the same-bytes
lookup, the run protocol, the library record) into a fresh Qdrant Edge store, batch after batch. The inputs are
results of CLIP-like unit vectors made before each batch's clock starts. It prints:

- the seconds per video of the first batch (the baseline) and of the last one, and their ratio (goal <= 1.2x);
- what local ingest asks the library per file (`identify`: the content-hash and path lookups, an id check) at the
  full size against the same at the first batch (goal: flat);
- the lookup by content hash against what each file cost before (reading every record of the library);
- a page of GET /videos (100 records as JSON, from `store.video_page`) at the full size against a page at
  --page-baseline videos (500; issue 26: any page <= 5x): right after a write (the store's listing takes each write;
  before, every record was read again), with nothing written since, and matched by text; and the page after a write
  against what it cost before (every record read, matched and sorted again), measured in the same run.

The machine may be shared: each batch's time is its median per-video time x the batch size, so that a burst of
other work during a few videos moves it little; the spread of each batch is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

MODEL = "clip/ViT-B-16"


def make_results(rng: np.random.Generator, count: int, frames: int, dim: int) -> list:
    """`count` parsed results of `frames` CLIP-like unit vectors each (a topic plus noise), as a results file holds."""
    import msgspec

    from framesearch.ingest.results import parse_results_bytes, to_results_json
    from framesearch.vectors import normalize

    made = []
    for _ in range(count):
        vectors = normalize(rng.standard_normal((1, dim)) + 0.5 * rng.standard_normal((frames, dim))).astype(np.float32)
        offsets = [i * 10 for i in range(frames)]
        raw = msgspec.json.encode(to_results_json(offsets, [round(f / 30, 4) for f in offsets], vectors, meta={"fps": 3.0}))
        made.append(parse_results_bytes(raw))
    return made


def timed_lookups(store, rng: np.random.Generator, tries: int = 200) -> float:
    """Median seconds of what local ingest asks the library per file (`identify`) for a file it has not seen."""
    from framesearch.ingest.identity import identify

    times = []
    for k in range(tries):
        digest = f"{rng.integers(1 << 62):x}"
        start = time.perf_counter()
        identify(store, Path(f"/nowhere/new{k}.mp4"), f"new{k}.mp4", digest)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_pages(store, tries: int = 10) -> dict[str, float]:
    """Median seconds of one GET /videos answer (a page of 100 from the middle, as JSON): by name right after a write
    to the library (what a page loaded while an ingest runs costs), the same with nothing written since the last
    page, a matched page (`q`) right after a write, and a page as the store made it before issue 26's listing was
    kept write by write (every record read, matched and sorted again: what a page after a write cost)."""
    from framesearch.service.responses import VideoList
    from framesearch.store.pages import page_of

    middle = store.video_page(limit=1)[0] // 2

    def page(match: str | None = None, from_every_record: bool = False) -> float:
        start = time.perf_counter()
        if from_every_record:
            total, records = page_of(store._read_videos(), limit=100, offset=middle, sort="name")
        else:
            total, records = store.video_page(limit=100, offset=0 if match else middle, match=match, sort="name")
        VideoList(count=len(records), total=total, videos=records).model_dump_json()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"write": [], "kept": [], "match": [], "before": []}
    some = store.video_page(limit=1)[1][0]
    for k in range(tries):
        store.put_video(some)  # a write: what an ingest does to the library between two page loads
        times["write"].append(page())
        times["kept"].append(page())
        store.put_video(some)
        times["match"].append(page(match=f"{k}5"))
        if k < 3:  # slow at full size: three tries
            times["before"].append(page(from_every_record=True))
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def same_bytes_lookups(store, digest: str, tries: int = 5) -> tuple[float, float]:
    """Median seconds of the same-bytes question asked by payload index, and by reading every record (as before),
    each right after a write (as in an ingest, where each video's record was just written)."""
    some = store.video_page(limit=1)[1][0]
    by_hash, by_reading = [], []
    for _ in range(tries):
        store.put_video(some)
        start = time.perf_counter()
        found = store.videos_where(content_hash=digest)
        by_hash.append(time.perf_counter() - start)
        store.put_video(some)
        start = time.perf_counter()
        scanned = [r for r in store._read_videos() if r.content_hash == digest]  # (list_videos() is kept now)
        by_reading.append(time.perf_counter() - start)
        assert [r.video_id for r in found] == [r.video_id for r in scanned]
    return statistics.median(by_hash), statistics.median(by_reading)


def build(
    folder: Path, videos: int, batch: int, frames: int, dim: int, page_baseline: int
) -> tuple[list[list[float]], list[float], dict]:
    """Ingest the library batch by batch; per-video seconds of each batch, `identify` seconds after each, lookups,
    and page times at `page_baseline` videos and at the full size."""
    from framesearch.ingest.requests import ResultsIngest
    from framesearch.ingest.results_ingest import ingest_parsed_results
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore

    rng = np.random.default_rng(11)
    settings = Settings(store=folder)
    req = ResultsIngest(model=MODEL, fps=3.0)
    per_batch, lookups, pages, done = [], [], {}, 0
    with EdgeStore(folder) as store:
        while done < videos:
            inputs = make_results(rng, min(batch, videos - done), frames, dim)
            seconds = []
            for parsed in inputs:
                start = time.perf_counter()
                ingest_parsed_results(store, parsed, req, settings, default_id=f"v{done:06d}.mp4", where="bench")
                seconds.append(time.perf_counter() - start)
                done += 1
                if done == page_baseline:
                    pages["baseline"] = timed_pages(store)
            per_batch.append(seconds)
            lookups.append(timed_lookups(store, rng))
            print(f"  {done} videos: {statistics.median(seconds) * 1000:.2f} ms/video (median)", flush=True)
        pages["full"] = timed_pages(store)
        by_hash, by_reading = same_bytes_lookups(store, inputs[-1].content_hash)
    return per_batch, lookups, {"hash": by_hash, "read": by_reading, "pages": pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--frames", type=int, default=4, help="frames per video")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--page-baseline", type=int, default=500, help="videos at which the GET /videos baseline is taken")
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.videos, args.batch = 2_000, 250
    print(f"Machine: {machine()}. {args.videos} videos of {args.frames} frames ({args.dim}-d), batches of {args.batch}.")
    with tempfile.TemporaryDirectory() as tmp:
        per_batch, lookups, single = build(
            Path(tmp) / "store", args.videos, args.batch, args.frames, args.dim, min(args.page_baseline, args.videos)
        )
    first, last = (statistics.median(s) * len(s) for s in (per_batch[0], per_batch[-1]))
    for name, seconds in (("first", per_batch[0]), ("last", per_batch[-1])):
        p10, *_, p90 = (q * 1000 for q in statistics.quantiles(seconds, n=10))
        print(f"{name} batch per video: p10 {p10:.2f} ms, median {statistics.median(seconds) * 1000:.2f} ms, p90 {p90:.2f} ms")
    n = args.videos
    bench = "library scale"
    rows = [
        Row(bench, f"ingest of the last {args.batch} of {n} videos", last, "s", first, f"the first {args.batch}", "<= 1.2x",
            last <= 1.2 * first),
        Row(bench, f"identify() per new file at {n} videos", lookups[-1] * 1000, "ms", lookups[0] * 1000,
            f"at {args.batch} videos", "flat (<= 1.5x)", lookups[-1] <= 1.5 * lookups[0]),
        Row(bench, f"same-bytes lookup by content hash at {n} videos", single["hash"] * 1000, "ms", single["read"] * 1000,
            "reading every record (before)", "", None),
    ]  # fmt: skip
    base, full, b = single["pages"]["baseline"], single["pages"]["full"], f"{min(args.page_baseline, n)} videos"
    page = f"GET /videos page of 100 at {n} videos"
    rows += [
        Row(bench, f"{page}, right after a write", full["write"] * 1000, "ms", base["kept"] * 1000,
            f"a page at {b}", "<= 5x", full["write"] <= 5 * base["kept"]),
        Row(bench, f"{page}, right after a write", full["write"] * 1000, "ms", base["write"] * 1000,
            f"right after a write at {b}", "<= 5x", full["write"] <= 5 * base["write"]),
        Row(bench, f"{page}, nothing written since the last", full["kept"] * 1000, "ms", base["kept"] * 1000,
            f"the same at {b}", "<= 5x", full["kept"] <= 5 * base["kept"]),
        Row(bench, f"{page} matched by text (q), right after a write", full["match"] * 1000, "ms", base["match"] * 1000,
            f"the same at {b}", "", None),
        Row(bench, f"{page}, right after a write", full["write"] * 1000, "ms", full["before"] * 1000,
            "every record read again (before the kept listing)", "", None),
    ]  # fmt: skip
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
