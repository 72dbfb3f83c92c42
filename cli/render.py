"""How the read commands print their answers: the consoles and the tables, from the answers' JSON shape.

Both halves of the CLI print through here: the full Typer app (from the core's models, dumped as JSON data) and
the thin client (cli/thin.py, from a service's JSON answer), so a command prints the same table either way.
Imports nothing but the standard library; rich is imported when a console or a table is first made.
"""

from __future__ import annotations

import os
from typing import Any

PIPE_WIDTH = 10_000  # columns when not writing to a terminal: no table cut, no id or path shortened
TABLE_ROWS = 100  # videos a `videos list` table shows unless told


class LazyConsole:
    """A rich Console made on first use (importing rich costs startup time that `--help` need not pay). Into a pipe
    or file (no terminal) it is as wide as its widest line: tables keep full ids and paths (`--json` is exact too)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            console = Console(stderr=self._stderr)
            if not console.is_terminal and "COLUMNS" not in os.environ:
                console = Console(stderr=self._stderr, width=PIPE_WIDTH)
            self._console = console
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


out = LazyConsole()
err = LazyConsole(stderr=True)


def print_videos(records: list[dict[str, Any]], total: int, filtered: bool) -> None:
    """`videos list` as a table (records: VideoRecord JSON), and how many more there are."""
    from rich.table import Table

    table = Table("video", "frames", "fps", "duration (s)", "model", "source", "indexed")
    for r in records:
        fps = f"{r['fps']:g}" if r["fps"] else "-"
        duration = f"{r['duration']:.1f}" if r["duration"] is not None else "-"
        table.add_row(r["video_id"], str(r["frames"]), fps, duration, r["model"], r["source"], r["indexed_at"] or "-")
    out.print(table if records else ("no videos match" if filtered else "no videos indexed yet"))
    if len(records) < total:
        more = "--limit N shows more (0: all), --match TEXT finds some"
        out.print(f"{len(records)} of {total} videos shown: {more}", highlight=False)


def print_store_info(info: dict[str, Any]) -> None:
    """`store info` as a two-column table (info: StoreInfo JSON)."""
    from rich.table import Table

    table = Table("", "", show_header=False, box=None)
    rows = [
        ("backend", info["backend"]),
        ("location", info["location"]),  # absolute: the Edge folder, or the server's URL
        ("collection", info["collection"]),
        ("model", f"{info['model']} ({info['dim']} dims)" if info["model"] else "none yet (empty)"),
        ("points", str(info["points"])),
        ("videos", str(info["videos"])),
    ]
    totals = info.get("totals")
    if totals and totals["videos"]:
        rows.append(("library", totals_text(totals)))
    if index := info.get("index"):
        payload = ", ".join(index["payload_indexes"]) or "none"
        rows.append(("index", f"{index['state']}; {index['segments']} segments, payload indexes {payload}"))
    if c := info.get("cluster"):
        states = ", ".join(f"{n} {s}" for s, n in sorted(c["replica_states"].items())) or "not reported"
        rows.append(
            (
                "cluster",
                f"{c['shards']} shards x {c['replicas'] or 1} replicas, write consistency "
                f"{c['write_consistency'] or 1}, {c['peers'] or 1} node(s); replicas: {states}",
            )
        )
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def totals_text(t: dict[str, Any]) -> str:
    """Hours, frames and file bytes of the library, in a person's units."""
    size, unit = float(t["video_bytes"]), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            break
        size /= 1000
    gone = f"; {t['missing']} gone from disk (videos delete --missing)" if t["missing"] else ""
    return f"{t['hours']:.2f} hours, {t['frames']:,} frames, {size:.3g} {unit} of video files{gone}"


def print_results(data: dict[str, Any]) -> None:
    """A search answer (SearchResponse JSON) as a table, or the line saying nothing matched and what to lower."""
    from rich.table import Table

    if not data["results"]:
        calibrated = data["threshold_kind"] == "calibrated"
        floor = f"confidence {data['min_confidence']}" if calibrated else f"threshold {data['threshold']}"
        option = "--min-confidence" if calibrated else "--threshold"
        out.print(f"No moments match at {floor}. Lower {option} to see weaker matches.", highlight=False)
        return
    mode = data["mode"]
    aired = any(_aired(r) for r in data["results"])  # a live stream's results: when each aired (UTC)
    last = "frame" if mode == "frames" else "frames"
    table = Table("score", "confidence", "video", "time (s)", *(["aired (UTC)"] if aired else []), last)
    for r in data["results"]:
        confidence = "-" if r["confidence"] is None else f"{r['confidence']:.2f}"
        when = [_aired(r) or "-"] if aired else []
        if mode == "frames":
            table.add_row(f"{r['score']:.3f}", confidence, r["video_id"], f"{r['timestamp']:.2f}", *when, str(r["frame"]))
        elif mode == "sequences":
            first, then = r["first"], r["then"]
            parts = f"{first['start']:.2f}-{first['end']:.2f} then {then['start']:.2f}-{then['end']:.2f}"
            count = str(first["frame_count"] + then["frame_count"])
            table.add_row(f"{r['score']:.3f}", confidence, r["video_id"], parts, *when, count)
        else:
            span = f"{r['start']:.2f}-{r['end']:.2f}"
            table.add_row(f"{r['score']:.3f}", confidence, r["video_id"], span, *when, str(r["frame_count"]))
    out.print(table)


def print_next_cursor(cursor: str | None) -> None:
    """Tell a table's reader how to ask for the next page (JSON carries it as `next_cursor`)."""
    if cursor is not None:
        err.print(f"more results: add --cursor {cursor}", highlight=False, soft_wrap=True)


def _aired(result: dict[str, Any]) -> str | None:
    """When a live stream's result aired (UTC), as the table shows it; None for a file's."""
    if result.get("utc"):
        return result["utc"]
    first = result.get("first") or result
    start, end = first.get("start_utc"), (result.get("then") or first).get("end_utc")
    return f"{start} - {end}" if start and end else None
