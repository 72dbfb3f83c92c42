"""Damaged store files (copies of a good store, truncated, zeroed or with flipped bytes): every command gives a
right answer or one clean error line, never a traceback, a Rust panic or a silently wrong answer; `store
check` names the damage, and `--repair` fixes what can be fixed without dropping committed frames."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.crash import ROOT, invoke, library, results_file, searchable

pytestmark = pytest.mark.slow

SIZES = {"a": 300, "b": 260, "c": 280}

# Runs the CLI in-process in a fresh interpreter (a damaged file must not take the test run down with it).
PROBE = """
import json, sys
from typer.testing import CliRunner
from framesearch.cli import app
store, query = sys.argv[1], sys.argv[2]
commands = {
    "list": ["videos", "list", "--json"],
    "search": ["search", "--vector-file", query, "--mode", "frames", "--limit", "1000", "--threshold", "-1", "--json"],
    "check": ["store", "check", "--json"],
}
out = {}
for name, args in commands.items():
    result = CliRunner().invoke(app, ["--store", store, *args])
    out[name] = [result.exit_code, result.stdout, result.stderr, repr(result.exception)]
print(json.dumps(out))
"""


def truncate(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 3)


def zero(path: Path) -> None:
    path.write_bytes(b"")


def flip(path: Path) -> None:
    with open(path, "r+b") as handle:
        data = bytearray(handle.read(4096))
        for i in range(0, len(data), 7):
            data[i] ^= 0xFF
        handle.seek(0)
        handle.write(data)


def remove(path: Path) -> None:
    shutil.rmtree(path)


SEGMENT = "segments/*"
CASES = [  # what, files (glob under the collection folder), damage, problems the check must name
    ("frame id mapping truncated", f"frames/{SEGMENT}/mutable_id_tracker.mappings", truncate, {"count_mismatch"}),
    ("record id mapping truncated", f"videos/{SEGMENT}/mutable_id_tracker.mappings", truncate, {"orphan_points"}),
    ("record id mapping emptied", f"videos/{SEGMENT}/mutable_id_tracker.mappings", zero, {"orphan_points"}),
    ("a status file emptied (a Rust panic)", f"frames/{SEGMENT}/vector_storage/deleted/status.dat", zero, {"damaged"}),
    ("frame payloads flipped", f"frames/{SEGMENT}/payload_storage/page_0.dat", flip, {"damaged"}),
    ("vectors emptied", f"frames/{SEGMENT}/vector_storage/vectors/chunk_0.mmap", zero, {"damaged"}),
    ("vector deletion flags flipped", f"frames/{SEGMENT}/vector_storage/deleted/flags_a.dat", flip, {"lost_vectors"}),
    # flipped vector bytes are still vectors: searches misrank those frames until a check finds them (not on open)
    ("vector bytes flipped", f"frames/{SEGMENT}/vector_storage/vectors/chunk_0.mmap", flip, {"lost_vectors"}),
    ("write-ahead log emptied", "frames/wal/open-1", zero, {"damaged"}),
    ("model file truncated", "collection.json", truncate, {"damaged"}),
    ("records shard gone", "videos", remove, {"damaged"}),
]
REPAIRABLE = {"count_mismatch", "orphan_points"}
FOUND_BY_CHECK_ONLY = {"vector bytes flipped"}


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    files = [results_file(folder, name, n, seed=i) for i, (name, n) in enumerate(SIZES.items())]
    store = folder / "store"
    assert invoke(store, "ingest", "results", *map(str, files)).exit_code == 0
    query = folder / "query.json"
    query.write_text(json.dumps([1.0] * 8))
    assert library(store) == SIZES and searchable(store, query) == SIZES
    return store, query


def probe(store: Path, query: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(store), str(query)], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert done.returncode == 0, f"the probe died ({done.returncode}): {done.stderr[-3000:]}"
    return json.loads(done.stdout)


def assert_right_or_one_clean_error(name: str, answer: list, right) -> None:
    code, stdout, stderr, exception = answer
    assert "Traceback" not in stdout + stderr and "Panic" not in stdout + stderr, (name, stdout, stderr)
    if code == 0:
        assert right(json.loads(stdout)), f"{name} answered wrongly: {stdout[:500]}"
    else:
        lines = stderr.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), (name, code, stderr, exception)


@pytest.mark.parametrize("what, pattern, damage, expected", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_store_answers_right_or_fails_cleanly(tmp_path, good_store, what, pattern, damage, expected):
    good, query = good_store
    store = tmp_path / "store"
    shutil.copytree(good, store)
    targets = sorted((store / "frames").glob(pattern))
    assert targets, f"no file matches {pattern}"
    for target in targets:
        damage(target)

    answers = probe(store, query)
    assert_right_or_one_clean_error(
        "videos list", answers["list"], lambda videos: {v["video_id"]: v["frames"] for v in videos} == SIZES
    )
    if what not in FOUND_BY_CHECK_ONLY:
        assert_right_or_one_clean_error("search", answers["search"], lambda found: found["count"] == sum(SIZES.values()))
    code, stdout, stderr, _ = answers["check"]
    report = json.loads(stdout)
    assert code == 1 and not report["ok"], report
    assert expected <= {p["kind"] for p in report["problems"]}, report["problems"]

    if expected <= REPAIRABLE:
        repaired = invoke(store, "store", "check", "--repair", "--json")
        assert repaired.exit_code == 0, repaired.stdout
        after = library(store)
        assert searchable(store, query) == {k: v for k, v in after.items() if v}
        if "orphan_points" in expected:
            assert after == SIZES  # lost records rebuilt from their points: no committed frame lost
    assert library(good) == SIZES  # the original is untouched
