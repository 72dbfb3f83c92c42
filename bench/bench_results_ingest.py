"""`framesearch ingest results` against a bare pipeline on the same file, measured in one run.

    python bench/bench_results_ingest.py [--frames 20000] [--dim 512] [--files 1] [--repeat 3] [--quick] [--json-out F]

The input is generated with the product's own writer (`to_results_json`, the format `framesearch infer` writes):
CLIP-like unit vectors printed the way Roboflow's files print them. Each measurement is a fresh process on a
fresh Qdrant Edge store, timed wall-clock, with its peak RSS from the kernel (wait4):

- ours: `framesearch ingest results FILE... --model clip/ViT-B-16` (every check, hashing, the library record,
  and the search index built for the new frames, as every CLI ingest does);
- bare: orjson.loads of the whole file (`pip install 'framesearch[bench]'`; else msgspec's plain decode), numpy
  conversion, batched upsert through the same store API, no checks;
- bare+index: the same bare pipeline, then the same index build (`build_index`), so that both leave a store
  searched by its graph;
- deferred: `framesearch ingest results FILE... --defer-index`, then `framesearch store index` (the bulk mode).

It prints frames/s and CPU seconds of each, the ratio ours/bare (goal >= 0.8; by CPU, ours with its index build
>= 0.5x the bare pipeline), and the peak RSS of each against the file size
(goal: ours below file + 300 MB). With --files K the frames are split into K files ingested by one command
(one after another: the peak stays near one file's). The machine may be shared: runs alternate, the median
is reported, and the spread is printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

MB = 1024 * 1024
# Each child reports its own peak (VmHWM: reset by exec, unlike getrusage's maxrss, which a forked child inherits).
LAUNCH = r"""
import atexit, sys
def peak():
    kb = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
    sys.stderr.write(f"\nPEAK_KB {kb}\n")
atexit.register(peak)
mode, args = sys.argv[1], sys.argv[2:]
if mode == "ours":
    from framesearch.cli import app
    app(args, prog_name="framesearch")
else:
    sys.argv = [sys.argv[0], *args]
    exec(compile(open(mode).read(), mode, "exec"))
"""
BARE = r"""
import sys, time, numpy as np
from pathlib import Path
try:
    from orjson import loads
except ImportError:  # pip install 'framesearch[bench]' for orjson; msgspec's plain decode is as fast
    from msgspec.json import decode as loads
from framesearch.store.edge import EdgeStore
from framesearch.store.schema import FramePoint, VideoRecord
index = sys.argv[1] == "--index"  # then the search index is built at the end, as every CLI ingest does
store_dir, files = Path(sys.argv[1 + index]), sys.argv[2 + index:]
with EdgeStore(store_dir) as store:
    for n, name in enumerate(files):
        data = loads(Path(name).read_bytes())
        vectors = np.asarray([e["embeddings"][0] for e in data["clip"]], dtype=np.float32)
        frames, times = data["frame_offset"], data["time_offset"]
        del data
        vid = f"v{n}"
        store.ensure_collection("clip/ViT-B-16", vectors.shape[1])
        for i in range(0, len(frames), 256):
            batch = [FramePoint(vid, f, t, v, 3.0, "clip/ViT-B-16", "results")
                     for f, t, v in zip(frames[i:i+256], times[i:i+256], vectors[i:i+256])]
            store.upsert_frames(batch, "bare")
        store.put_video(VideoRecord(video_id=vid, model="clip/ViT-B-16", source="results", frames=len(frames)))
        store.flush()
    if index:
        store.build_index()
"""


def write_inputs(folder: Path, frames: int, dim: int, files: int) -> list[Path]:
    """Results files of CLIP-like vectors (scenes: a topic vector plus noise), written by the product's writer
    (in a child process, so that this one stays small)."""
    code = f"from bench_results_ingest import _write; _write({str(folder)!r}, {frames}, {dim}, {files})"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
    return [folder / f"part{k}.json" for k in range(files)]


def _write(folder: str, frames: int, dim: int, files: int) -> None:
    import msgspec
    import numpy as np

    from framesearch.ingest.results import to_results_json

    rng = np.random.default_rng(7)
    per_file = frames // files
    for k in range(files):
        topics = rng.standard_normal((per_file // 60 + 1, dim))
        vectors = np.repeat(topics, 60, axis=0)[:per_file] + 0.5 * rng.standard_normal((per_file, dim))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        offsets = [i * 10 for i in range(per_file)]
        times = [round(f / 29.97, 4) for f in offsets]
        path = Path(folder) / f"part{k}.json"
        path.write_bytes(msgspec.json.encode(to_results_json(offsets, times, vectors.astype(np.float32))))


def run_child(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, all threads) and peak RSS (MB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[3:6]}... failed: {done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_kb = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, cpu, peak_kb / 1024


def ours(store: Path, files: list[Path], script: Path) -> list[str]:
    args = ["ingest", "results", *map(str, files), "--model", "clip/ViT-B-16", "--store", str(store)]
    return [sys.executable, "-c", LAUNCH, "ours", *args]


def bare(store: Path, files: list[Path], script: Path) -> list[str]:
    return [sys.executable, "-c", LAUNCH, str(script), str(store), *map(str, files)]


def bare_indexed(store: Path, files: list[Path], script: Path) -> list[str]:
    return [sys.executable, "-c", LAUNCH, str(script), "--index", str(store), *map(str, files)]


def deferred(store: Path, files: list[Path], script: Path) -> list[list[str]]:
    """`ingest results --defer-index`, then `framesearch store index`: two processes, one after the other."""
    index = [sys.executable, "-c", LAUNCH, "ours", "store", "index", "--store", str(store)]
    return [[*ours(store, files, script), "--defer-index"], index]


PIPELINES = {"bare": bare, "bare+index": bare_indexed, "ours": ours, "deferred": deferred}


def measure(frames: int, dim: int, files: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp:
        folder = Path(tmp)
        inputs = write_inputs(folder, frames, dim, files)
        script = folder / "bare.py"
        script.write_text(BARE)
        size_mb = sum(p.stat().st_size for p in inputs) / MB
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in PIPELINES}
        for r in range(repeat):
            for name, argv in PIPELINES.items():
                store = folder / f"store-{name.replace('+', '-')}-{r}"
                commands = argv(store, inputs, script)
                steps = [run_child(c) for c in (commands if isinstance(commands[0], list) else [commands])]
                runs[name].append((sum(x[0] for x in steps), sum(x[1] for x in steps), max(x[2] for x in steps)))
    figures = {"frames": frames, "dim": dim, "files": files, "file_mb": round(size_mb, 1)}
    for name, rows in runs.items():
        seconds = statistics.median(s for s, _, _ in rows)
        figures[name] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(statistics.median(c for _, c, _ in rows), 3),
            "spread": [round(s, 2) for s, _, _ in rows],
            "frames_per_s": round(frames / seconds),
            "peak_rss_mb": round(max(m for _, _, m in rows)),
        }
    figures["cli_startup_s"] = round(startup_seconds(), 2)
    figures["ratio"] = round(figures["bare"]["seconds"] / figures["ours"]["seconds"], 2)
    figures["cpu_ratio"] = round(figures["bare"]["cpu_seconds"] / figures["ours"]["cpu_seconds"], 2)
    figures["ratio_indexed"] = round(figures["bare+index"]["seconds"] / figures["ours"]["seconds"], 2)
    figures["cpu_ratio_indexed"] = round(figures["bare+index"]["cpu_seconds"] / figures["ours"]["cpu_seconds"], 2)
    figures["cpu_ratio_deferred"] = round(figures["bare"]["cpu_seconds"] / figures["deferred"]["cpu_seconds"], 2)
    figures["largest_file_mb"] = round(size_mb / files, 1)  # the files are of one size
    figures["ours_rss_over_file_mb"] = round(figures["ours"]["peak_rss_mb"] - size_mb / files)
    return figures


def startup_seconds() -> float:
    """What starting the CLI costs (`framesearch --help`), included in every `ours` run."""
    return statistics.median(run_child([sys.executable, "-c", LAUNCH, "ours", "--help"])[0] for _ in range(3))


def report(f: dict) -> None:
    print(f"results file(s): {f['files']} x {f['frames'] // f['files']} frames of {f['dim']}-d, {f['file_mb']} MB in all")
    print(f"(whole processes, startup included: the CLI's own takes {f['cli_startup_s']:.2f} s)")
    print(f"{'pipeline':<10}{'seconds':>9}{'frames/s':>10}{'CPU s':>8}{'peak RSS MB':>13}   runs (s)")
    for name in PIPELINES:
        row = f[name]
        print(
            f"{name:<10}{row['seconds']:>9.2f}{row['frames_per_s']:>10}{row['cpu_seconds']:>8.2f}"
            f"{row['peak_rss_mb']:>13}   {row['spread']}"
        )
    print(f"ratio ours/bare throughput: {f['ratio']:.2f} (goal >= 0.8); CPU time ratio {f['cpu_ratio']:.2f}")
    print(
        f"ratio ours/bare+index (the same pipeline, then the search index every CLI ingest builds): "
        f"{f['ratio_indexed']:.2f}; CPU time ratio {f['cpu_ratio_indexed']:.2f}"
    )
    print(f"by CPU, bare/deferred (ingest --defer-index, then store index): {f['cpu_ratio_deferred']:.2f}")
    print(f"ours peak RSS - largest file: {f['ours_rss_over_file_mb']} MB (goal < 300)")


def rows_for(f: dict) -> list[Row]:
    """The figures as table rows (bench/run_all.py)."""
    size = f"{f['frames'] // 1000}k frames" + (f" in {f['files']} files" if f["files"] > 1 else "")
    ours, bare, indexed = f["ours"], f["bare"], f["bare+index"]
    return [
        Row(
            "results ingest",
            f"`ingest results` throughput, {size} (index built)",
            ours["frames_per_s"],
            "frames/s",
            bare["frames_per_s"],
            "bare decode + upsert, no index",
            "ratio >= 0.8",
            f["ratio"] >= 0.8,
        ),
        Row(
            "results ingest",
            f"`ingest results` throughput, {size}, vs the bare pipeline + the same index build",
            ours["frames_per_s"],
            "frames/s",
            indexed["frames_per_s"],
            "bare + index build",
        ),
        Row(
            "results ingest",
            f"`ingest results` CPU, {size} (its index build included)",
            ours["cpu_seconds"],
            "CPU s",
            bare["cpu_seconds"],
            "bare load + upsert, no index",
            "throughput by CPU >= 0.5x (ratio <= 2)",
            ours["cpu_seconds"] <= 2 * bare["cpu_seconds"],
        ),
        Row(
            "results ingest",
            f"`ingest results --defer-index` + `store index` CPU, {size}",
            f["deferred"]["cpu_seconds"],
            "CPU s",
            bare["cpu_seconds"],
            "bare load + upsert, no index",
        ),
        Row(
            "results ingest",
            f"`ingest results` CPU, {size}, vs the bare pipeline + the same index build",
            ours["cpu_seconds"],
            "CPU s",
            indexed["cpu_seconds"],
            "bare + index build",
        ),
        Row(
            "results ingest",
            f"`ingest results` peak RSS, {size}",
            ours["peak_rss_mb"],
            "MB",
            f["largest_file_mb"],
            "largest results file",
            "< file + 300 MB",
            f["ours_rss_over_file_mb"] < 300,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_output_args(parser)  # --quick: 10000 frames, 2 runs
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeat = 10000, 2
    print(f"# bench_results_ingest: {machine()}", flush=True)
    figures = measure(args.frames, args.dim, args.files, args.repeat)
    if args.json:
        print(json.dumps(figures))
        return
    report(figures)
    emit(rows_for(figures), args.json_out)


if __name__ == "__main__":
    main()
