"""One-process vs Ray library ingest on the same input, measured in one run.

    python bench/bench_ray_ingest.py [--model tiny-shapes-clip] [--fps 3] [--cpus 2] [--repeat 2] [VIDEO_OR_DIR ...]
                                     [--quick] [--json-out F]

Indexes the same folder of videos with `framesearch ingest local DIR --recursive` twice into fresh Qdrant Edge
stores: in one process, then with `--ray local` on a local Ray instance of `--cpus` CPUs (started once before
timing; its start-up is printed apart). Prints sampled frames per second of each and their ratio. On a 2-core
machine Ray cannot win: one CPU embeds, one decodes, and tasks, actors and the object store cost time a single
process does not pay. The ratio says what that overhead is; the gain comes with more cores and machines
(docs/scaling.md). Both runs must index the same frames, or the bench fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "videos"
DEFAULT_VIDEOS = [
    "big_buck_bunny_0_30.webm",
    "one-by-one-person-detection.mp4",
    "car-detection.mp4",
    "bikes.mp4",
    "vtest.avi",
    "bottle-detection.mp4",
]


def library(sources: list[Path], into: Path) -> Path:
    """A folder of the given videos (links), as `ingest local` walks it."""
    into.mkdir(parents=True)
    for src in sources:
        for video in sorted(src.iterdir()) if src.is_dir() else [src]:
            (into / video.name).symlink_to(video.resolve())
    return into


def ingest(folder: Path, store: Path, model: str, fps: float, *extra: str) -> tuple[float, int]:
    from typer.testing import CliRunner

    from framesearch.cli import app

    start = time.perf_counter()
    result = CliRunner().invoke(
        app,
        [
            "--store",
            str(store),
            "ingest",
            "local",
            str(folder),
            "--recursive",
            "--fps",
            str(fps),
            "--model",
            model,
            "--json",
            *extra,
        ],
    )
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"ingest failed: {result.output}")
    return elapsed, sum(o["frames"] for o in json.loads(result.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--model", default="tiny-shapes-clip")
    parser.add_argument("--fps", type=float, default=3.0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--range", type=float, help="--ray-range: split videos into ranges of this many seconds.")
    add_output_args(parser)  # --quick: the first three default videos, one run each
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    print(f"# bench_ray_ingest: {machine()}", flush=True)
    try:
        import ray
    except ImportError:
        raise SystemExit("Ray is not installed: pip install 'framesearch[ray]'") from None
    names = DEFAULT_VIDEOS[:3] if args.quick else DEFAULT_VIDEOS
    missing = [name for name in names if not (MEDIA / name).is_file()]
    if not args.videos and missing:
        raise SystemExit(f"the shared test media is missing ({MEDIA / missing[0]}): pass videos")

    with tempfile.TemporaryDirectory() as tmp:
        folder = library(args.videos or [MEDIA / name for name in names], Path(tmp) / "library")
        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        startup = time.perf_counter() - started
        extra = ["--ray", "local", *(["--ray-range", str(args.range)] if args.range else [])]
        best = {"one process": float("inf"), "ray": float("inf")}
        frames = {}
        for _ in range(args.repeat):
            for label, flags in (("one process", ()), ("ray", extra)):
                store = Path(tmp) / "store"
                elapsed, frames[label] = ingest(folder, store, args.model, args.fps, *flags)
                best[label] = min(best[label], elapsed)
                shutil.rmtree(store)
        ray.shutdown()
    if frames["one process"] != frames["ray"]:
        raise SystemExit(f"the two runs indexed different frame counts: {frames}")
    n = frames["ray"]
    print(f"model {args.model}, {n} frames sampled at {args.fps:g} fps, Ray with {args.cpus} CPUs, best of {args.repeat}")
    for label, seconds in best.items():
        print(f"{label:<14}{n / seconds:10.1f} frames/s  ({seconds:.1f} s)")
    print(f"ray / one process: {best['one process'] / best['ray']:.2f}   (Ray start-up, not timed above: {startup:.1f} s)")
    emit(
        [
            Row(
                "ray ingest",
                f"`ingest local --ray local` ({args.cpus} CPUs), {n} frames",
                n / best["ray"],
                "frames/s",
                n / best["one process"],
                "one process",
            )
        ],
        args.json_out,
    )


if __name__ == "__main__":
    main()
