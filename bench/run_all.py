"""Run the quick version of every benchmark and print one table of figures, same-run baselines and ratios.

    python bench/run_all.py [--only NAME ...] [--full] [--markdown-out FILE]

Each benchmark runs in its own interpreter with `--quick --json-out FILE` (the rows of bench/report.py) and
the figures are gathered into one Markdown table, headed by a line describing the machine. A benchmark that
fails or cannot run here (missing shared media, no GPU) adds a row saying why; the others go on.
Adding a benchmark is one line in BENCHES: a script that accepts --quick and --json-out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, load, machine, table  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCHES = [  # (name, script and its own arguments); each also gets --quick (unless --full) and --json-out
    ("search", ["bench_search.py"]),
    ("index build", ["bench_index_build.py"]),
    ("memory", ["bench_memory.py"]),
    ("service", ["bench_service.py"]),
    ("serving", ["bench_serving.py"]),
    ("startup", ["bench_startup.py"]),
    ("results ingest", ["bench_results_ingest.py"]),
    ("library scale", ["bench_library_scale.py"]),
    ("page scale", ["bench_page_scale.py"]),
    ("local ingest", ["bench_local_ingest.py"]),
    ("local ingest, real size", ["bench_local_ingest.py", "--real-size"]),
    ("gpu ingest", ["bench_gpu_ingest.py"]),
    ("embedding", ["bench_embed_throughput.py"]),
    ("writer", ["bench_writer.py"]),
    ("ray ingest", ["bench_ray_ingest.py"]),
    ("moments", ["eval_moments.py"]),
    ("confidence", ["eval_confidence.py"]),
    ("transitions", ["bench_transitions.py"]),
    ("stream", ["bench_stream.py"]),
    ("alerts", ["bench_alerts.py"]),
]


def run(name: str, command: list[str], quick: bool, out: Path) -> tuple[list[Row], float]:
    """The rows of one benchmark (or one row saying why there are none) and its wall time."""
    start = time.perf_counter()
    args = [sys.executable, str(HERE / command[0]), *command[1:], "--json-out", str(out)] + (["--quick"] if quick else [])
    done = subprocess.run(args, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0 or not out.is_file():
        reason = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        return [Row(name, f"did not run: {reason[0][:160]}", float("nan"))], took
    print(done.stdout.strip().split("\n|", 1)[0], flush=True)  # the benchmark's own notes, before its table
    return load(out), took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="run only these (names in BENCHES)")
    parser.add_argument("--full", action="store_true", help="the full versions (slow)")
    parser.add_argument("--markdown-out", type=Path, help="also write the table (with the machine line) here")
    args = parser.parse_args()
    chosen = [(n, c) for n, c in BENCHES if not args.only or n in args.only]
    header = f"Machine: {machine()}."
    print(header, flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, command) in enumerate(chosen):
            print(f"## {name} ...", flush=True)
            found, took = run(name, command, not args.full, Path(tmp) / f"{i}.json")
            rows += found
            print(f"## {name}: {took:.0f} s", flush=True)
    text = f"{header}\n\n{table(rows)}"
    print(text)
    if args.markdown_out:
        args.markdown_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
