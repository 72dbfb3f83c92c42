"""The service under load: /healthz latency while clients search and while a large results upload is parsed
and indexed, against /healthz on the idle service, in one run.

    python bench/bench_service.py [--frames 100000] [--upload 20000] [--clients 8] [--seconds 15]
                                  [--qdrant-url URL --workers N] [--quick] [--json-out F]

Builds a store with `framesearch ingest results` (CLIP-like vectors, bench/synthetic.py), starts `framesearch
serve` on it, and measures from separate processes (so the bench's own interpreter adds no wait): /healthz
polled every 20 ms (1) idle, (2) while N clients search by vector as fast as they can, (3) the same while a
results file of --upload frames is posted, parsed, indexed and its search index built in the background.
With --qdrant-url (a running Qdrant server) and --workers N the same runs against `serve --workers N`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, free_tcp_port, machine  # noqa: E402
from synthetic import MODEL, clip_like, noisy_queries, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.02


def poll_health(base: str, stop: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    import httpx

    times = []
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            start = time.perf_counter()
            client.get(f"{base}/healthz").raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(POLL_S)
    out.put(times)


def search_clients(base: str, clients: int, queries: list, stop: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    """`clients` concurrent searchers (asyncio tasks in one process: the load, not the load generator, is measured)."""
    import asyncio

    import httpx

    async def client(http: httpx.AsyncClient, offset: int, times: list[float]) -> None:
        i = offset
        while not stop.is_set():
            start = time.perf_counter()
            await http.post(f"{base}/search", json={"vector": queries[i % len(queries)], "limit": 10, "mode": "frames"})
            times.append((time.perf_counter() - start) * 1000)
            i += 1

    async def run() -> list[float]:
        times: list[float] = []
        async with httpx.AsyncClient(timeout=120) as http:
            await asyncio.gather(*(client(http, i * 17, times) for i in range(clients)))
        return times

    out.put(asyncio.run(run()))


def run_phase(base: str, seconds: float, clients: int, queries: list, during=None) -> dict:
    """Poll /healthz (and run `clients` searchers) for `seconds`, or until `during()` returns."""
    ctx = multiprocessing.get_context("spawn")
    stop, health_q, search_q = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=poll_health, args=(base, stop, health_q))]
    if clients:
        procs.append(ctx.Process(target=search_clients, args=(base, clients, queries, stop, search_q)))
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the clients start
    start = time.perf_counter()
    if during:
        during()
    while time.perf_counter() - start < seconds:
        time.sleep(0.1)
    elapsed = time.perf_counter() - start + 1.0
    stop.set()
    health = health_q.get(timeout=120)
    searches = search_q.get(timeout=120) if clients else []
    for p in procs:
        p.join(timeout=30)
    result = {
        "health_p50": float(np.percentile(health, 50)),
        "health_p99": float(np.percentile(health, 99)),
        "health_max": float(max(health)),
        "polls": len(health),
    }
    if searches:
        result.update(search_p50=float(np.percentile(searches, 50)), search_rate=len(searches) / elapsed)
    return result


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("serve did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--upload", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--qdrant-url")
    parser.add_argument("--workers", type=int, default=1)
    add_output_args(parser)
    args = parser.parse_args()
    frames = 20_000 if args.quick else args.frames
    seconds = 8.0 if args.quick else args.seconds
    print(f"# bench_service: {machine()}", flush=True)
    vectors = clip_like(frames + args.upload, args.dim)
    _, queries = noisy_queries(vectors[:frames], 200)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        store = ["--store", str(work / "s")] + (["--qdrant-url", args.qdrant_url] if args.qdrant_url else [])
        paths = write_results(vectors[:frames], work / "library")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "framesearch",
                *store,
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
        big = write_results(vectors[frames:], work / "upload", per_file=args.upload)[0]
        port = free_tcp_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "framesearch", *store, "serve", "--port", str(port), "--workers", str(args.workers)]
        with open(work / "serve.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            wait_healthy(base, proc)
            q = [v.tolist() for v in queries]
            idle = run_phase(base, seconds, 0, q)
            loaded = run_phase(base, seconds, args.clients, q)
            upload_s: list[float] = []

            def post_upload() -> None:
                import httpx

                start = time.perf_counter()
                answer = httpx.post(
                    f"{base}/videos/uploaded/results",
                    params={"model": MODEL, "fps": 3},
                    content=big.read_bytes(),
                    headers={"content-type": "application/json"},
                    timeout=600,
                )
                answer.raise_for_status()
                upload_s.append(time.perf_counter() - start)
                while httpx.get(f"{base}/healthz", timeout=60).json().get("indexing"):
                    time.sleep(0.1)  # and until its index is built
                upload_s.append(time.perf_counter() - start)

            uploading = run_phase(base, 0.0, args.clients, q, during=post_upload)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"upload of {args.upload} frames: answered in {upload_s[0]:.1f} s, index built after {upload_s[1]:.1f} s")
    for name, phase in (("idle", idle), ("searching", loaded), ("searching+upload", uploading)):
        print(
            f"{name:<18} healthz p50 {phase['health_p50']:.1f} ms p99 {phase['health_p99']:.1f} ms "
            f"max {phase['health_max']:.1f} ms ({phase['polls']} polls)"
            + (f"; search p50 {phase['search_p50']:.1f} ms, {phase['search_rate']:.0f}/s" if "search_rate" in phase else "")
        )
    backend = f"Qdrant server, {args.workers} workers" if args.qdrant_url else "Qdrant Edge"
    n = f"{frames // 1000}k frames, {backend}"
    rows = [
        Row(
            "service",
            f"/healthz p99, {args.clients} clients searching ({n})",
            loaded["health_p99"],
            "ms",
            idle["health_p99"],
            "idle service",
            "< 50 ms",
            loaded["health_p99"] < 50,
        ),
        Row(
            "service",
            f"/healthz p99, searching + {args.upload // 1000}k-frame upload and index build ({n})",
            uploading["health_p99"],
            "ms",
            idle["health_p99"],
            "idle service",
            "< 50 ms",
            uploading["health_p99"] < 50,
        ),
        Row("service", f"search throughput, {args.clients} clients ({n})", loaded["search_rate"], "req/s"),
    ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
