"""Screen time (issue 25): `framesearch stats` and `GET /stats` total the durations of the very moments a search
answers, per video or per hour/day of wall-clock time, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.search.screen_time import _spread
from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
MODEL = "tiny-shapes-clip"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("screen")
    one = write_shapes_video(
        root / "one.mp4",
        [("circle", "red", "white", 3.0), ("square", "blue", "yellow", 2.0), ("circle", "red", "white", 2.0)],
    )
    two = write_shapes_video(root / "two.mp4", [("triangle", "green", "black", 2.0), ("circle", "red", "white", 1.5)])
    store = root / "store"
    result = runner.invoke(app, ["--store", str(store), "ingest", "local", str(one), str(two), "--fps", "2", "--model", MODEL])
    assert result.exit_code == 0, result.output
    return store


def cli_json(store, *args: str) -> dict:
    result = runner.invoke(app, ["--store", str(store), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_totals_are_the_sum_of_the_search_moments_durations(library):
    moments = cli_json(library, "search", "a red circle", "--limit", "1000", "--json")["results"]
    stats = cli_json(library, "stats", "a red circle", "--json")
    assert len(moments) == 3 and stats["moments"] == 3
    assert stats["total_seconds"] == pytest.approx(sum(m["end"] - m["start"] for m in moments), abs=1e-3)
    per_video = {row["key"]: row["seconds"] for row in stats["rows"]}
    for video in ("one.mp4", "two.mp4"):
        expected = sum(m["end"] - m["start"] for m in moments if m["video_id"] == video)
        assert per_video[video] == pytest.approx(expected, abs=1e-3)
    assert per_video["one.mp4"] == pytest.approx(5.0, abs=1.0)  # 0-3 s and 5-7 s
    only = cli_json(library, "stats", "a red circle", "--video-id", "two.mp4", "--json")
    assert [row["key"] for row in only["rows"]] == ["two.mp4"]
    early = cli_json(library, "stats", "a red circle", "--to", "4", "--json")
    assert early["moments"] == 2  # the second moment of one.mp4 starts after 4 s


def test_csv_table_and_nothing(library):
    result = runner.invoke(app, ["--store", str(library), "stats", "a red circle", "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["video", "seconds", "moments"] and rows[-1][0] == "total"
    assert float(rows[-1][1]) == pytest.approx(sum(float(r[1]) for r in rows[1:-1]), abs=1e-3)
    table = runner.invoke(app, ["--store", str(library), "stats", "a red circle"])
    assert "one.mp4" in table.stdout and "total" in table.stdout
    star = cli_json(library, "stats", "a yellow star", "--json")
    assert star["rows"] == [] and star["total_seconds"] == 0
    both = runner.invoke(app, ["--store", str(library), "stats", "a red circle", "--csv", "--json"])
    assert both.exit_code == 1


def test_by_day_puts_a_file_at_the_day_it_was_indexed(library):
    stats = cli_json(library, "stats", "a red circle", "--by", "day", "--json")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert [row["key"] for row in stats["rows"]] == [f"{today}T00:00:00Z"]
    assert stats["total_seconds"] == pytest.approx(cli_json(library, "stats", "a red circle", "--json")["total_seconds"])
    old = ["--from", "2001-01-01T00:00Z", "--to", "2001-01-02"]
    none = cli_json(library, "stats", "a red circle", "--by", "hour", *old, "--json")
    assert none["rows"] == []
    bad = runner.invoke(app, ["--store", str(library), "stats", "a red circle", "--from", "yesterday"])
    assert bad.exit_code == 1 and "give seconds" in bad.output


def test_http_stats_answer_as_the_cli(library):
    expected = cli_json(library, "stats", "a red circle", "--json")
    with TestClient(create_app(Settings(store=library))) as client:
        answer = client.get("/stats", params={"q": "a red circle"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
        text = client.get("/stats", params={"q": "a red circle", "format": "csv"})
        assert text.headers["content-type"].startswith("text/csv") and text.text.startswith("video,seconds,moments")
        assert client.get("/stats", params={"q": "  "}).status_code == 422
        assert client.get("/stats", params={"q": "x", "by": "week"}).status_code == 422


def test_a_moment_across_hours_is_split_at_the_edge_and_keeps_its_total():
    start = datetime(2026, 12, 7, 9, 59, 30, tzinfo=UTC)
    parts = list(_spread(start, 90.0, "hour"))
    assert [(p[0].hour, p[1]) for p in parts] == [(9, 30.0), (10, 60.0)]
    assert sum(p[1] for p in _spread(start, 3 * 86400.0, "day")) == pytest.approx(3 * 86400.0)
