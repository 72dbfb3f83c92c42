"""Crash and probe helpers: run the CLI in a subprocess that SIGKILLs itself at a chosen moment, then look
at the store through the real CLI (in-process, once the crashed writer is gone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from framesearch.cli import app
from tests.conftest import results_json

ROOT = Path(__file__).resolve().parents[2]
CRASHPOINT = Path(__file__).resolve().parent / "crashpoint"
runner = CliRunner()


def crash_env(spec: str | None) -> dict[str, str]:
    """Environment that makes a framesearch subprocess SIGKILL itself at `spec` (see crashpoint/sitecustomize.py)."""
    if not spec:
        return {}
    path = os.pathsep.join(p for p in (str(CRASHPOINT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "FRAMESEARCH_TEST_CRASH": spec}


def run_cli(
    store: Path, *args: str, crash: str | None = None, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """`framesearch --store STORE ARGS` in a subprocess (with `env` added; killed at `crash`, if given)."""
    env = {**os.environ, **(env or {}), **crash_env(crash)}
    cmd = [sys.executable, "-m", "framesearch", "--store", str(store), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def invoke(store: Path, *args: str) -> Any:
    """`framesearch --store STORE ARGS` in this process."""
    return runner.invoke(app, ["--store", str(store), *args])


def invoke_json(store: Path, *args: str, code: int | None = 0) -> Any:
    result = invoke(store, *args, "--json")
    if code is not None:
        assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def library(store: Path) -> dict[str, int]:
    """Video id -> frames, as `videos list` says."""
    return {v["video_id"]: v["frames"] for v in invoke_json(store, "videos", "list")}


def searchable(store: Path, vector_file: Path) -> Counter:
    """Video id -> frames a search that matches everything returns (at most 1000)."""
    answer = invoke_json(
        store, "search", "--vector-file", str(vector_file), "--mode", "frames", "--limit", "1000", "--threshold", "-1"
    )
    return Counter(r["video_id"] for r in answer["results"])


def check(store: Path, repair: bool = False) -> tuple[int, dict]:
    """`store check [--repair] --json`: exit code and report."""
    result = invoke(store, "store", "check", *(["--repair"] if repair else []), "--json")
    return result.exit_code, json.loads(result.stdout)


def results_file(folder: Path, name: str, frames: int, dim: int = 8, step: int = 12, seed: int = 0) -> Path:
    """A results file of `frames` random vectors, frame numbers `step` apart (24 fps video), recording the
    model that made them (`tests/random`, of no known size: any dimension is taken)."""
    vectors = np.random.default_rng(seed).normal(size=(frames, dim)).tolist()
    numbers = [i * step for i in range(frames)]
    path = folder / f"{name}.json"
    doc = {**results_json(numbers, [n / 24 for n in numbers], vectors), "framesearch": {"model": "tests/random"}}
    path.write_text(json.dumps(doc))
    return path


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The CLI failed cleanly: exit 1 (no signal), one `error:` line on stderr, no traceback. Returns the line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr[-2000:]
    return lines[0]
