"""HNSW index builds: Qdrant Edge's (as the store configures it, and variants) against hnswlib and faiss on the
same vectors, by build CPU and recall@10, in one run.

    python bench/bench_index_build.py [--frames 100000] [--dim 512] [--queries 200] [--quick] [--json-out F]

The vectors are CLIP-like (bench/synthetic.py), 1,000-frame videos with the payload the product writes, and
recall@10 is measured on text-like queries (a topic direction plus noise, best score ~0.27: the recall goal's
set) against exact numpy search, at the search breadths (`ef`) of EF_CURVE. Every build is timed in CPU
seconds of this process (all threads): Qdrant's `optimize()` (the build; the upserts before it are timed
apart), hnswlib's `add_items`, faiss's `add`. Qdrant variants change one thing of the store's configuration
(store/schema.py `IndexConfig`): `m`, `ef_construct`, the payload links (`payload_m` 0: no extra links per
indexed payload value), indexing threads, the graph on disk. hnswlib and faiss are bench-only extras
(`pip install 'framesearch[bench]'`); without them their rows are skipped, saying so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402
from synthetic import FPS, FRAMES_PER_VIDEO, clip_like, noisy_queries, text_like_queries  # noqa: E402

EF_CURVE = (32, 64, 128, 256, 512)
GOAL_RECALL = 0.95


def cpu() -> float:
    return time.process_time()  # this process, every thread (Qdrant's and faiss's build threads included)


def exact(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ vectors.T
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return top


def recall_of(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]))


def qdrant_variants(default) -> dict[str, object]:
    """The store's configuration and one change at a time."""
    return {
        "store default": default,
        "ef_construct 200 (the default before)": replace(default, ef_construct=200),
        "ef_construct 64": replace(default, ef_construct=64),
        "m 8": replace(default, m=8),
        "m 32": replace(default, m=32),
        "no payload links": replace(default, payload_m=0),
        "no payload links, ef_construct 200": replace(default, payload_m=0, ef_construct=200),
        "1 indexing thread": replace(default, indexing_threads=1),
        "graph on disk": replace(default, hnsw_on_disk=True),
    }


def build_qdrant(index, vectors: np.ndarray, folder: Path) -> tuple[float, float, object]:
    """Upsert as the store does (payloads, payload indexes), then build; (upsert CPU s, build CPU s, shard)."""
    import qdrant_edge as q

    from framesearch.store.edge import _edge_config
    from framesearch.store.schema import INDEXED_FIELDS, CollectionInfo, point_id

    shard = q.EdgeShard.create(str(folder), _edge_config(CollectionInfo("clip/bench", vectors.shape[1]), index))
    kinds = {"keyword": q.PayloadSchemaType.Keyword, "float": q.PayloadSchemaType.Float}
    for name, schema in INDEXED_FIELDS.items():
        shard.update(q.UpdateOperation.create_field_index(name, kinds[schema]))
    start = cpu()
    for first in range(0, len(vectors), 1024):
        points = []
        for i in range(first, min(first + 1024, len(vectors))):
            video, frame = f"v{i // FRAMES_PER_VIDEO:05d}", i % FRAMES_PER_VIDEO
            payload = {"video_id": video, "frame": frame, "timestamp": round(frame / FPS, 4), "fps": FPS, "ingest_run": video}
            points.append(q.Point(point_id(video, frame, video), vectors[i].tolist(), payload))
        shard.update(q.UpdateOperation.upsert_points(points))
    upserted = cpu()
    shard.optimize()
    built = cpu()
    return upserted - start, built - upserted, shard


def search_qdrant(shard, index, queries: np.ndarray, ef: int) -> np.ndarray:
    import qdrant_edge as q

    quantization = q.QuantizationSearchParams(rescore=True, oversampling=index.oversampling) if index.quantization else None
    out = []
    for v in queries:
        request = q.QueryRequest(
            limit=10,
            query=q.Query.Nearest(v.tolist()),
            with_payload=q.PayloadSelector.Include(["video_id", "frame"]),
            params=q.SearchParams(hnsw_ef=ef, quantization=quantization),
        )
        hits = shard.query(request)
        out.append([int(h.payload["video_id"][1:]) * FRAMES_PER_VIDEO + int(h.payload["frame"]) for h in hits])
    return np.array(out)


def measure_qdrant(vectors, queries, truth, near, work: Path, names: list[str] | None) -> dict:
    """Each variant built on its own shard: build CPU, the text-like recall curve, near-frame recall at HNSW_EF."""
    from framesearch.store.schema import HNSW_EF, INDEX

    out = {}
    for name, index in qdrant_variants(INDEX).items():
        if names and name not in names:
            continue
        upsert_s, build_s, shard = build_qdrant(index, vectors, work / name.replace(" ", "-").replace(",", ""))
        try:
            indexed = int(shard.info().indexed_vectors_count)
            curve = {ef: recall_of(search_qdrant(shard, index, queries, ef), truth) for ef in EF_CURVE}
            near_recall = recall_of(search_qdrant(shard, index, near[0], HNSW_EF), near[1])
        finally:
            shard.close()
        out[name] = {"build_cpu_s": build_s, "upsert_cpu_s": upsert_s, "indexed": indexed, "curve": curve, "near": near_recall}
        print(
            f"qdrant {name}: build {build_s:.2f} CPU s (upserts {upsert_s:.2f}), {_curve(curve)}; "
            f"near-frame queries at ef {HNSW_EF}: {near_recall:.3f}",
            flush=True,
        )
    return out


def measure_hnswlib(vectors, queries, truth, m: int, ef_construct: int) -> dict | None:
    try:
        import hnswlib
    except ImportError:
        print("hnswlib: skipped (not installed: pip install 'framesearch[bench]')")
        return None
    index = hnswlib.Index(space="ip", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=m, ef_construction=ef_construct)
    start = cpu()
    index.add_items(vectors, np.arange(len(vectors)), num_threads=os.cpu_count() or 1)
    build = cpu() - start
    curve = {}
    for ef in EF_CURVE:
        index.set_ef(ef)
        labels, _ = index.knn_query(queries, k=10, num_threads=1)
        curve[ef] = recall_of(labels, truth)
    print(f"hnswlib m {m} ef_construct {ef_construct}: build {build:.2f} CPU s, {_curve(curve)}", flush=True)
    return {"build_cpu_s": build, "curve": curve}


def measure_faiss(vectors, queries, truth, m: int, ef_construct: int) -> dict | None:
    try:
        import faiss
    except ImportError:
        print("faiss: skipped (not installed: pip install 'framesearch[bench]')")
        return None
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construct
    start = cpu()
    index.add(vectors)
    build = cpu() - start
    curve = {}
    for ef in EF_CURVE:
        index.hnsw.efSearch = ef
        _, labels = index.search(queries, 10)
        curve[ef] = recall_of(labels, truth)
    print(f"faiss m {m} ef_construct {ef_construct}: build {build:.2f} CPU s, {_curve(curve)}", flush=True)
    return {"build_cpu_s": build, "curve": curve}


def _curve(curve: dict) -> str:
    return "recall@10 " + ", ".join(f"ef {ef}: {r:.3f}" for ef, r in curve.items())


def least_ef(curve: dict, goal: float = GOAL_RECALL) -> int | None:
    """The smallest measured search breadth reaching the recall goal."""
    return next((ef for ef, r in curve.items() if r >= goal), None)


def rows_for(f: dict) -> list[Row]:
    n = f"{f['n'] // 1000}k"
    qd = f["qdrant"]
    default = qd.get("store default")
    rows = []
    for lib in ("faiss", "faiss, ef_construct 200", "hnswlib"):
        other = f.get(lib)
        if other is None or default is None:
            rows.append(Row("index build", f"{lib}: not measured (not installed, or --skip-baselines)", float("nan")))
            continue
        rows.append(
            Row(
                "index build",
                f"Qdrant Edge HNSW build CPU at {n} (store default; recall@10 text-like {_at(default)}), "
                f"vs {lib if ',' in lib else lib + ', same m and ef_construct'} ({_at(other)})",
                default["build_cpu_s"],
                "CPU s",
                other["build_cpu_s"],
                f"{lib.split(',')[0]} HNSW build",
                "ratio <= 2 at equal recall" if lib.startswith("faiss") else "",
                default["build_cpu_s"] <= 2 * other["build_cpu_s"] if lib.startswith("faiss") else None,
            )
        )
    base = default["build_cpu_s"] if default else None
    for name, v in qd.items():
        if name != "store default":
            rows.append(Row("index build", f"Qdrant Edge: {name} ({_at(v)})", v["build_cpu_s"], "CPU s", base, "store default"))
    return rows


def _at(v: dict) -> str:
    ef = least_ef(v["curve"])
    return f">= {GOAL_RECALL} from ef {ef}" if ef else f"{max(v['curve'].values()):.3f} at best"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="Qdrant variants to build (default: all)")
    parser.add_argument("--skip-baselines", action="store_true", help="build with Qdrant only (no faiss, no hnswlib)")
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.frames, args.queries = 10_000, 100
        args.only = args.only or ["store default", "ef_construct 200 (the default before)", "no payload links"]
    print(f"# bench_index_build: {machine()}", flush=True)
    vectors = clip_like(args.frames, args.dim)
    queries = text_like_queries(vectors, args.queries)
    truth = exact(vectors, queries)
    print(f"{args.frames} frames of {args.dim}-d; text-like queries, best score {np.mean((queries @ vectors.T).max(1)):.3f}")
    figures: dict = {"n": args.frames}
    _, near_queries = noisy_queries(vectors, args.queries)
    near = (near_queries, exact(vectors, near_queries))
    from framesearch.store.schema import INDEX

    if not args.skip_baselines:
        figures["faiss"] = measure_faiss(vectors, queries, truth, INDEX.m, INDEX.ef_construct)
        figures["faiss, ef_construct 200"] = measure_faiss(vectors, queries, truth, INDEX.m, 200)
        figures["hnswlib"] = measure_hnswlib(vectors, queries, truth, INDEX.m, INDEX.ef_construct)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        figures["qdrant"] = measure_qdrant(vectors, queries, truth, near, Path(tmp), args.only)
    emit(rows_for(figures), args.json_out)


if __name__ == "__main__":
    main()
