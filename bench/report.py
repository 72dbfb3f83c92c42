"""Benchmark figures as rows (figure, baseline, ratio, goal), printed as one table and optionally saved as JSON.

Every benchmark prints its figures against a baseline measured in the same run; `bench/run_all.py` collects
the JSON rows of each one (`--json-out`) into one table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Row:
    """One figure: `value` against `baseline` (same run, same unit); `ratio` = value / baseline; `goal` in words."""

    bench: str
    metric: str
    value: float
    unit: str = ""
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the small version (what bench/run_all.py runs)")
    parser.add_argument("--json-out", type=Path, help="also write the rows as JSON here")


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN: no figure
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows."""
    lines = ["| bench | figure | value | baseline (same run) | ratio | goal | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = f"{fmt(r.baseline, r.unit)} ({r.baseline_name})" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: ""}[r.ok]
        lines.append(f"| {r.bench} | {r.metric} | {fmt(r.value, r.unit)} | {base} | {ratio} | {r.goal} | {met} |")
    return "\n".join(lines)


def emit(rows: list[Row], json_out: Path | None) -> None:
    """Print the rows as a table; save them as JSON too when asked."""
    print(table(rows))
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=1))


def load(path: Path) -> list[Row]:
    return [Row(**r) for r in json.loads(path.read_text())]


def machine() -> str:
    """What ran the benchmarks, in one line."""
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load_avg:.1f} at start"
    )


def free_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a service a bench starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
