"""bench/run_all.py is the one command of every benchmark: each script is in its list and takes its options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name.startswith(("bench_", "eval_")))


def run_all_list() -> list[str]:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    return [command[0] for _, command in run_all.BENCHES]


def test_every_benchmark_is_run_by_run_all():
    listed = run_all_list()
    assert SCRIPTS and sorted(set(listed)) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_has_a_quick_version_and_json_rows(script):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "--json-out" in done.stdout
