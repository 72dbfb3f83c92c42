"""How fast the one writer of an ingest stores frames: points per second through the store interface.

    python bench/bench_writer.py [--frames 50000] [--dim 512] [--qdrant-url URL] [--quick] [--json-out F]

Writes random unit vectors as frame points of 100-frame videos (one `store.run()` each: batches of 256, then
the record's commit and the run's end, as `index_frames` does) into a fresh Qdrant Edge store, and into a Qdrant server when
`--qdrant-url` is given. An ingest on Ray funnels every frame through this writer, so this is the ceiling of a
single `ingest local --ray` run, whatever the cluster; docs/scaling.md compares it with the embedding rates.
The baseline is the Edge engine alone in the same run: the same points (ids, vectors and payloads made
beforehand, untimed) upserted straight into the shard in the same batches, without the store interface's
normalisation, payload building, run marker, record write and sweep. With a server, Edge is the server's baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

BATCH = 256
PER_VIDEO = 100


def frame_points(frames: int, dim: int) -> list:
    """Random frame points of 100-frame videos (what an ingest hands the writer), the same in both measurements."""
    from framesearch.store.schema import FramePoint

    vectors = np.random.default_rng(0).normal(size=(frames, dim)).astype(np.float32)
    return [
        FramePoint(f"v{i // PER_VIDEO}", i % PER_VIDEO, (i % PER_VIDEO) / 1.0, vectors[i], 1.0, "bench/model", "local")
        for i in range(frames)
    ]


def write_rate(store, points: list) -> float:
    """Points per second through the store interface; the points are made beforehand, untimed, as the baseline's
    inputs are."""
    from framesearch.store.schema import VideoRecord

    dim = len(points[0].vector)
    store.ensure_collection("bench/model", dim)  # the collection is made once, untimed, as for the baseline
    start = time.perf_counter()
    for first in range(0, len(points), PER_VIDEO):
        video = points[first : first + PER_VIDEO]
        store.ensure_collection("bench/model", dim)
        with store.run(video[0].video_id, frames=len(video), dim=dim) as run:
            for b in range(0, len(video), BATCH):
                run.write(video[b : b + BATCH])
            record = VideoRecord(video_id=run.video_id, model="bench/model", source="local", frames=len(video))
            run.commit(record.model_copy(update={"ingest_run": run.id}))
    store.flush()
    return len(points) / (time.perf_counter() - start)


def engine_rate(store, points: list) -> float:
    """The baseline: the same points (ids, normalised vectors, payloads made beforehand, untimed) upserted
    straight into the store's Qdrant Edge shard in the same batches, with none of the store interface."""
    import qdrant_edge as q

    from framesearch.vectors import normalize

    vectors = normalize(np.stack([p.vector for p in points])).tolist()
    ids, payloads = [p.point_id("run") for p in points], [p.payload("run") for p in points]
    store.ensure_collection("bench/model", len(vectors[0]))
    shard = store._shard("frames")
    start = time.perf_counter()
    for b in range(0, len(points), BATCH):
        batch = [q.Point(ids[i], vectors[i], payloads[i]) for i in range(b, min(b + BATCH, len(points)))]
        shard.update(q.UpdateOperation.upsert_points(batch))
    shard.flush()
    return len(points) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--qdrant-url")
    add_output_args(parser)  # --quick: 10,000 frames
    args = parser.parse_args()
    if args.quick:
        args.frames = 10_000
    print(f"# bench_writer: {machine()}", flush=True)
    from framesearch.store.client import ClientStore
    from framesearch.store.edge import EdgeStore

    points = frame_points(args.frames, args.dim)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as edge:
        engine = engine_rate(edge, points)
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as edge:
        rates["Qdrant Edge"] = write_rate(edge, points)
    if args.qdrant_url:
        with ClientStore(url=args.qdrant_url, collection=f"bench{int(time.time())}") as server:
            rates["Qdrant server"] = write_rate(server, points)
            server.client.delete_collection(server.names["frames"])
            server.client.delete_collection(server.names["videos"])
    base = rates["Qdrant Edge"]
    print(f"{args.frames} frames of {args.dim} dims, videos of {PER_VIDEO} frames, batches of {BATCH}")
    print(f"{'Edge engine alone':<16}{engine:10.0f} points/s   (upserts straight into the shard, points made untimed)")
    for label, rate in rates.items():
        print(f"{label:<16}{rate:10.0f} points/s   x{rate / base:.2f}")
    rows = [
        Row(
            "writer",
            "frames written per second through the store interface (Qdrant Edge)",
            base,
            "points/s",
            engine,
            "the Edge engine's own upsert",
        )
    ]
    rows += [
        Row("writer", f"frames written per second through the store interface ({label})", rate, "points/s", base, "Qdrant Edge")
        for label, rate in rates.items()
        if label != "Qdrant Edge"
    ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
