"""Memory of the running service on a large store, against the raw float32 vectors it serves, in one run.

    python bench/bench_memory.py [--frames 100000] [--million] [--queries 300] [--quick] [--json-out F]

Builds a store with `framesearch ingest results` (CLIP-like vectors, bench/synthetic.py; the frames collection
keeps int8 vectors in RAM, float vectors on disk for rescoring, payloads on disk), starts `framesearch serve` on
it, runs vector searches over HTTP, and reads the resident memory (VmRSS, and its anonymous part) of the service
and its store process. The baseline is the raw vectors' size (frames x dim x 4 bytes); recall@10 of the same
searches against exact numpy search shows the memory was not bought with accuracy. At 100k frames the
interpreters' fixed ~200 MB dominate; the goal is stated for 1M (--million: slow, not in CI).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import wait_healthy
from report import (  # noqa: E402
    Row,
    add_output_args,
    emit,
    free_tcp_port,  # noqa: E402
    machine,
)
from synthetic import FRAMES_PER_VIDEO, MODEL, clip_like, global_index, noisy_queries, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 100 * FRAMES_PER_VIDEO


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += tree(int(child))
    return found


def rss(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) in bytes of one process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "RssAnon"))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300)
    add_output_args(parser)
    args = parser.parse_args()
    import httpx

    n = 1_000_000 if args.million else args.frames
    count = 100 if args.quick else args.queries
    print(f"# bench_memory: {machine()}", flush=True)
    vectors = clip_like(n, args.dim)
    _, queries = noisy_queries(vectors, count)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for start in range(0, n, CHUNK):  # 100 files (~600 MB of JSON) per command: the disk holds one chunk at a time
            paths = write_results(vectors[start : start + CHUNK], work / "results", first=start // FRAMES_PER_VIDEO)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "framesearch",
                    "--store",
                    str(work / "s"),
                    "ingest",
                    "results",
                    *map(str, paths),
                    "--model",
                    MODEL,
                    "--fps",
                    "3",
                    "--json",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for path in paths:
                path.unlink()
        port = free_tcp_port()
        base = f"http://127.0.0.1:{port}"
        with open(work / "serve.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "framesearch", "--store", str(work / "s"), "serve", "--port", str(port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_healthy(base, proc)
            found = []
            with httpx.Client(timeout=120) as client:
                for q in queries:
                    body = {"vector": q.tolist(), "mode": "frames", "limit": 10, "threshold": -1}
                    found.append(client.post(f"{base}/search", json=body).json()["results"])
            usage = [rss(pid) for pid in tree(proc.pid)]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    total, anon = sum(u[0] for u in usage), sum(u[1] for u in usage)
    raw = n * args.dim * 4
    exact = [set(np.argpartition(-(vectors @ q), 10)[:10].tolist()) for q in queries]
    recall = float(
        np.mean([len({global_index(h["video_id"], h["frame"]) for h in f} & e) / 10 for f, e in zip(found, exact, strict=True)])
    )
    print(
        f"{n} frames x {args.dim}: raw vectors {raw / 2**20:.0f} MiB; service + store process RSS "
        f"{total / 2**20:.0f} MiB (anonymous {anon / 2**20:.0f} MiB) after {count} searches; recall@10 {recall:.3f}"
    )
    label = f"{n // 1000}k frames"
    rows = [
        Row(
            "memory",
            f"service RSS (service + store process), {label}",
            total / 2**20,
            "MiB",
            raw / 2**20,
            "raw float32 vectors",
            "ratio <= 1.0 (at 1M)",
            total <= raw if n >= 1_000_000 else None,
        ),
        Row("memory", f"recall@10 of the same searches, {label}", recall, "", 1.0, "exact numpy", ">= 0.95", recall >= 0.95),
    ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
