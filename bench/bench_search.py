"""Search latency on a large library, against exact brute-force search over the same vectors, in one run.

    python bench/bench_search.py [--frames 100000] [--dim 512] [--queries 200] [--backend edge|local]

Fills a fresh store with random unit vectors spread over videos (as frame points), then times `store.search`
(HNSW ANN + payload filter) and the full search core (ANN + segment grouping), and the same queries by exact
numpy dot products. Prints p50/p95 latencies, the speed ratio, and how often ANN finds each query's source frame (queries are
stored vectors plus a little noise; the other neighbours of random vectors are near-ties, so recall@10 would
measure noise).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES_PER_VIDEO = 1000


def fill(store, vectors: np.ndarray, batch: int = 2048) -> None:
    from framesearch.store.schema import FramePoint

    store.ensure_collection("bench/random", vectors.shape[1])
    points = []
    for i, v in enumerate(vectors):
        video, frame = divmod(i, FRAMES_PER_VIDEO)
        points.append(FramePoint(f"video-{video}", frame, frame / 3, v, 3.0, "bench/random", "local"))
    for start in range(0, len(points), batch):
        store.upsert_frames(points[start : start + batch], "bench")
    store.flush()


def timed(fn, queries) -> tuple[np.ndarray, list]:
    times, answers = [], []
    for q in queries:
        start = time.perf_counter()
        answers.append(fn(q))
        times.append((time.perf_counter() - start) * 1000)
    return np.asarray(times), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backend", choices=["edge", "local"], default="edge")
    args = parser.parse_args()

    from framesearch.search.core import search
    from framesearch.search.models import SearchRequest
    from framesearch.settings import Settings
    from framesearch.store.base import SearchFilter
    from framesearch.store.client import ClientStore
    from framesearch.store.edge import EdgeStore
    from framesearch.vectors import normalize

    rng = np.random.default_rng(0)
    vectors = normalize(rng.normal(size=(args.frames, args.dim)).astype(np.float32))
    planted = rng.integers(0, args.frames, args.queries)
    queries = normalize(vectors[planted] + rng.normal(scale=0.02, size=(args.queries, args.dim)))
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp)) if args.backend == "edge" else ClientStore(path=tmp)
        start = time.perf_counter()
        fill(store, vectors)
        if hasattr(store, "_shards"):
            store._shards["frames"].optimize()  # build the HNSW index before timing
        print(f"{args.backend}: {args.frames} frames x {args.dim} dims indexed in {time.perf_counter() - start:.1f} s")

        ann_ms, ann = timed(lambda q: store.search(q, limit=10), queries)
        exact_ms, exact = timed(lambda q: np.argsort(-(vectors @ q))[:10], queries)
        video = SearchFilter(video_ids=("video-7",))
        filt_ms, _ = timed(lambda q: store.search(q, video, limit=10), queries)
        core_ms, _ = timed(
            lambda q: search(store, SearchRequest(vector=q.tolist(), threshold=0.1, limit=20), Settings()), queries
        )
        store.close()

    ids = [[int(h.video_id.split("-")[1]) * FRAMES_PER_VIDEO + h.frame for h in hits] for hits in ann]
    found = np.mean([p in a for p, a in zip(planted.tolist(), ids, strict=True)])
    agree = np.mean([a[:1] == e[:1].tolist() for a, e in zip(ids, exact, strict=True)])
    rows = [("ANN search (top 10)", ann_ms), ("ANN + video filter", filt_ms), ("search core (segments)", core_ms),
            ("exact numpy baseline", exact_ms)]
    for label, ms in rows:
        print(f"{label:<26} p50 {np.percentile(ms, 50):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms")
    print(f"speed-up of ANN over exact (p50): {np.percentile(exact_ms, 50) / np.percentile(ann_ms, 50):.1f}x")
    print(f"ANN finds the query's source frame in its top 10: {found:.3f}; top-1 agrees with exact: {agree:.3f}")


if __name__ == "__main__":
    main()
