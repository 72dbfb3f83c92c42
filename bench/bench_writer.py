"""How fast the one writer of an ingest stores frames: points per second through the store interface.

    python bench/bench_writer.py [--frames 50000] [--dim 512] [--qdrant-url URL]

Writes random unit vectors as frame points of 100-frame videos (`upsert_frames` in batches of 256, then each
video's sweep and record, as `index_frames` does) into a fresh Qdrant Edge store, and into a Qdrant server when
`--qdrant-url` is given. An ingest on Ray funnels every frame through this writer, so this is the ceiling of a
single `ingest local --ray` run, whatever the cluster; docs/scaling.md compares it with the embedding rates.
The first backend measured (Edge) is the baseline of the printed ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 256
PER_VIDEO = 100


def write_rate(store, frames: int, dim: int) -> float:
    from framesearch.store.schema import FramePoint, VideoRecord

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(frames, dim)).astype(np.float32)
    start = time.perf_counter()
    for first in range(0, frames, PER_VIDEO):
        video = f"v{first // PER_VIDEO}"
        points = [FramePoint(video, i, i / 1.0, vectors[first + i], 1.0, "bench/model", "local")
                  for i in range(min(PER_VIDEO, frames - first))]
        store.ensure_collection("bench/model", dim)
        for b in range(0, len(points), BATCH):
            store.upsert_frames(points[b : b + BATCH], "run")
        store.sweep_stale(video, "run")
        store.put_video(VideoRecord(video_id=video, model="bench/model", source="local", frames=len(points)))
    store.flush()
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--qdrant-url")
    args = parser.parse_args()
    from framesearch.store.client import ClientStore
    from framesearch.store.edge import EdgeStore

    rates = {}
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as edge:
        rates["Qdrant Edge"] = write_rate(edge, args.frames, args.dim)
    if args.qdrant_url:
        with ClientStore(url=args.qdrant_url, collection=f"bench{int(time.time())}") as server:
            rates["Qdrant server"] = write_rate(server, args.frames, args.dim)
            server.client.delete_collection(server.names["frames"])
            server.client.delete_collection(server.names["videos"])
    base = rates["Qdrant Edge"]
    print(f"{args.frames} frames of {args.dim} dims, videos of {PER_VIDEO} frames, batches of {BATCH}")
    for label, rate in rates.items():
        print(f"{label:<16}{rate:10.0f} points/s   x{rate / base:.2f}")


if __name__ == "__main__":
    main()
