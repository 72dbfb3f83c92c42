"""Fast answers at library scale: what a searcher gets from `framesearch serve`, against baselines from the same run.

    python bench/bench_serving.py [--frames 100000] [--dim 512] [--upload 20000] [--seconds 15] [--quick] [--json-out F]

A library of CLIP-like frame vectors (bench/synthetic.py) is indexed with the product's own command (`framesearch
ingest results` of synthetic results files); queries are text-like: a stored frame's direction plus noise, so that
the best frame scores ~0.27, as CLIP text-to-image does (not a noisy copy of a frame, which scores ~0.9). Figures:

1. core segment search (the search core in-process on the store, the default request) against a top-10 ANN search
   on the same store: CPU per query, interleaved (the machine may be loaded); numpy here runs with one BLAS thread,
   as in every framesearch process, unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS says otherwise;
2. HTTP segment searches per second at concurrency 4 (httpx clients in another process), against exact numpy
   top-10 over the same vectors in this process, per second;
3. HTTP p50 at concurrency 1 against the p50 of exact numpy over the same vectors in-process;
4. HTTP searches per second at concurrency 4 while an upload's index is built, against the same idle;
5. HTTP searches per second at concurrency 4 with one BLAS thread (the default) against one per core (the old one);
6. the size of an answer (a moment's summary) against the same answer with its frames listed (`frames=true`).
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

if not any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # as every framesearch process runs numpy (cli/main.py): baselines too

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, free_tcp_port, machine  # noqa: E402
from synthetic import MODEL, clip_like, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOP_COSINE = 0.27  # a text query's best frame, as CLIP text-to-image


def text_like(vectors: np.ndarray, count: int, seed: int = 7, top: float = TOP_COSINE) -> np.ndarray:
    """Queries like a CLIP text embedding: a stored frame's direction plus noise orthogonal to it, weighted so the
    cosine to that frame is `top` (the frames of its scene score a little less, unrelated frames ~0.13)."""
    rng = np.random.default_rng(seed)
    source = vectors[rng.integers(0, len(vectors), count)]
    noise = rng.normal(size=source.shape).astype(np.float32)
    noise -= (noise * source).sum(axis=1, keepdims=True) * source
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = top * source + np.sqrt(1 - top**2) * noise
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def search_clients(base: str, clients: int, queries: list, seconds: float, halt, out: multiprocessing.Queue) -> None:
    """`clients` concurrent searchers (asyncio tasks in one process) for `seconds` or until `halt` is set: (end time,
    latency) per answer."""
    import asyncio

    import httpx

    async def client(http: httpx.AsyncClient, offset: int, done: list, stop: float) -> None:
        i = offset
        while time.time() < stop and not halt.is_set():
            start = time.perf_counter()
            answer = await http.post(f"{base}/search", json={"vector": queries[i % len(queries)]})
            if answer.status_code != 200:  # counted, and said at the end: a failed search is no figure
                failed.append(answer.status_code)
            else:
                done.append((time.time(), time.perf_counter() - start))
            i += 1

    failed: list[int] = []

    async def run() -> list:
        done: list = []
        stop = time.time() + seconds
        async with httpx.AsyncClient(timeout=600) as http:
            await asyncio.gather(*(client(http, i * 17, done, stop) for i in range(clients)))
        return done

    done = asyncio.run(run())
    if failed:
        print(f"# {len(failed)} searches failed (status {sorted(set(failed))})", flush=True)
    out.put(done)


def load(base: str, clients: int, queries: list, seconds: float, during=None) -> tuple[list, object]:
    """Run the searchers for `seconds` (in another process), calling `during()` meanwhile; their answers and its result."""
    ctx = multiprocessing.get_context("spawn")
    out, halt = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=search_clients, args=(base, clients, queries, seconds, halt, out))
    proc.start()
    result = None
    if during:
        result = during()
        halt.set()
    done = out.get(timeout=seconds + 900)
    proc.join(timeout=60)
    return done, result


def rate(done: list, start: float, end: float) -> float:
    return sum(start <= t <= end for t, _ in done) / max(end - start, 1e-9)


def serve(store: Path, log: Path, threads: str | None) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_tcp_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")}
    if threads:
        env["OPENBLAS_NUM_THREADS"] = threads
    cmd = [sys.executable, "-m", "framesearch", "--store", str(store), "serve", "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            health = httpx.get(f"{base}/healthz", timeout=5).json()
            if not health.get("indexing"):
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("serve did not answer")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=120)


def in_process(store_dir: Path, vectors: np.ndarray, queries: np.ndarray, rounds: int) -> dict:
    """CPU per query of the search core's segment search and of a top-10 ANN search, interleaved; and the wall
    p50 and rate of exact numpy top-10 over the same vectors."""
    from framesearch.search.core import search
    from framesearch.search.models import SearchRequest
    from framesearch.settings import Settings
    from framesearch.store.base import SearchFilter
    from framesearch.store.edge import EdgeStore

    settings = Settings(store=store_dir)
    core, ann, exact = [], [], []
    frames = moments = 0
    with EdgeStore(store_dir) as store:
        for q in queries:  # warm: the index's pages, the videos' frame tables (a first search reads them)
            search(store, SearchRequest(vector=q.tolist()), settings)
        store._state.wide.clear()  # type: ignore[attr-defined]  # as fresh queries: not known to need a wide search
        half = len(queries) // 2
        for i in range(rounds):  # each search a query not searched before (the store keeps which ones went wide)
            q = queries[i % half]
            t = time.process_time()
            store.search(q, SearchFilter(), limit=10)
            ann.append(time.process_time() - t)
            q = queries[half + i % half]
            t = time.process_time()
            answer = search(store, SearchRequest(vector=q.tolist()), settings)
            core.append(time.process_time() - t)
            moments += answer.count
            frames += sum(getattr(r, "frame_count", 1) for r in answer.results)
    for i in range(rounds):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        exact.append(time.perf_counter() - t)
    return {
        "core_cpu": float(np.median(core)),
        "ann_cpu": float(np.median(ann)),
        "exact_p50": float(np.median(exact)),
        "exact_rate": 1.0 / float(np.mean(exact)),
        "moments": moments / rounds,
        "frames": frames / rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--upload", type=int, default=20_000, help="frames of the upload whose index build is measured")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=200, help="queries of the in-process figures")
    add_output_args(parser)
    args = parser.parse_args()
    frames = 10_000 if args.quick else args.frames
    upload = min(args.upload, 5_000) if args.quick else args.upload
    seconds = 6.0 if args.quick else args.seconds
    rounds = 60 if args.quick else args.rounds
    print(f"# bench_serving: {machine()}", flush=True)
    vectors = clip_like(frames + upload, args.dim)
    library = vectors[:frames]
    queries = text_like(library, 2 * args.rounds)
    print(f"# text-like queries: best cosine p50 {float(np.median((library @ queries.T).max(axis=0))):.3f}", flush=True)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        store = work / "store"
        paths = write_results(library, work / "library")
        started = time.perf_counter()
        ingest = [sys.executable, "-m", "framesearch", "--store", str(store), "ingest", "results", *map(str, paths)]
        subprocess.run([*ingest, "--model", MODEL, "--fps", "3", "--json"], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        print(f"# ingest of {frames} frames: {time.perf_counter() - started:.0f} s", flush=True)
        big = write_results(vectors[frames:], work / "upload", per_file=upload)[0]
        local = in_process(store, library, queries, rounds)
        print(f"# in-process: {local}", flush=True)
        q = [v.tolist() for v in queries]
        proc, base = serve(store, work / "serve.log", None)
        try:
            sizes = answer_sizes(base, q[0])
            cold = one_pass(base, q)  # a fresh service reads each video's frame table on the first search reaching it
            warm = one_pass(base, q)
            one, _ = load(base, 1, q, seconds)
            idle, _ = load(base, 4, q, seconds)
            building, window = load(base, 4, q, seconds + 600, during=lambda: upload_and_build(base, big))
        finally:
            stop(proc)
        cores = str(os.cpu_count() or 1)
        proc, base = serve(store, work / "serve-blas.log", cores)
        try:
            many_threads, _ = load(base, 4, q, seconds)
        finally:
            stop(proc)
    idle_rate = len(idle) / seconds
    one_p50 = float(np.median([latency for _, latency in one]))
    answered, built = window  # type: ignore[misc]
    build_rate = rate(building, answered, built)
    print(f"# upload answered, then its index built in {built - answered:.1f} s; {len(building)} searches in all")
    n = f"{frames // 1000}k frames x {args.dim}"
    rows = [
        Row(
            "serving",
            f"core segment search, text-like query, CPU ({n}; {local['moments']:.1f} moments, {local['frames']:.0f} frames)",
            local["core_cpu"] * 1000,
            "ms",
            local["ann_cpu"] * 1000,
            "top-10 ANN search",
            "<= 3x",
            local["core_cpu"] <= 3 * local["ann_cpu"],
        ),
        Row(
            "serving",
            f"HTTP segment searches/s, concurrency 4 ({n})",
            idle_rate,
            "/s",
            local["exact_rate"],
            "exact numpy top-10, in-process",
            ">= 80/s",
            idle_rate >= 80,
        ),
        Row(
            "serving",
            f"HTTP segment search p50, concurrency 1 ({n})",
            one_p50 * 1000,
            "ms",
            local["exact_p50"] * 1000,
            "exact numpy top-10 p50, in-process",
            "<= 1.0x",
            one_p50 <= local["exact_p50"],
        ),
        Row(
            "serving",
            f"HTTP searches/s, concurrency 4, while a {upload // 1000}k-frame upload's index builds ({n})",
            build_rate,
            "/s",
            idle_rate,
            "idle service",
            ">= 60% of idle",
            build_rate >= 0.6 * idle_rate,
        ),
        Row(
            "serving",
            f"HTTP searches/s, concurrency 4, one BLAS thread (the default) ({n})",
            idle_rate,
            "/s",
            len(many_threads) / seconds,
            f"OPENBLAS_NUM_THREADS={cores} (the old default)",
        ),
        Row(
            "serving",
            f"HTTP, {len(q)} searches one after another on a fresh service (frame tables read) ({n})",
            cold,
            "s",
            warm,
            "the same searches again",
        ),
        Row("serving", "answer size, default (moments' summaries)", sizes[0], "bytes", sizes[1], "the same with frames=true"),
    ]
    emit(rows, args.json_out)


def one_pass(base: str, queries: list) -> float:
    """Seconds for the queries, one after another."""
    import httpx

    start = time.perf_counter()
    with httpx.Client(timeout=600) as http:
        for query in queries:
            http.post(f"{base}/search", json={"vector": query}).raise_for_status()
    return time.perf_counter() - start


def answer_sizes(base: str, query: list) -> tuple[int, int]:
    import httpx

    summary = httpx.post(f"{base}/search", json={"vector": query}, timeout=120)
    listed = httpx.post(f"{base}/search", json={"vector": query, "frames": True}, timeout=120)
    return len(summary.content), len(listed.content)


def upload_and_build(base: str, path: Path) -> tuple[float, float]:
    """Post a results file; when it is answered, and when its index build has ended (wall clock)."""
    import httpx

    time.sleep(1.0)
    answer = httpx.post(
        f"{base}/videos/uploaded/results",
        params={"model": MODEL, "fps": 3},
        content=path.read_bytes(),
        headers={"content-type": "application/json"},
        timeout=900,
    )
    answer.raise_for_status()
    answered = time.time()
    seen = False
    while True:
        indexing = httpx.get(f"{base}/healthz", timeout=120).json().get("indexing")
        seen = seen or indexing
        if not indexing and (seen or time.time() - answered > 5):
            return answered, time.time()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
