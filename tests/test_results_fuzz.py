"""Property-based tests of the results parser: any input gives a clean ResultsFormatError or a valid result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framesearch.errors import ResultsFormatError
from framesearch.ingest.results import ParsedResults, parse_results, parse_results_bytes

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)
MUTATIONS = ("none", "none", "other spelling", "drop a key", "odd offsets", "odd entries", "length", "metadata")


@st.composite
def documents(draw) -> dict:
    """Results-like documents: a valid file of every entry shape, then (mostly) one mutation of it."""
    size, dim = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    vector = st.lists(st.floats(-2.0, 2.0) | st.integers(-3, 3), min_size=dim, max_size=dim)
    entry = st.one_of(
        st.none(),
        vector,
        vector.map(lambda v: [v]),
        vector.map(lambda v: {"embeddings": [v], "time": 0.1}),
        vector.map(lambda v: {"embeddings": v}),
    )
    frames_key = draw(st.sampled_from(["frame_offset", "frame_offsets"]))
    times_key = draw(st.sampled_from(["time_offset", "time_offsets"]))
    doc = {
        frames_key: draw(st.lists(st.integers(0, 300), min_size=size, max_size=size, unique=True)),
        times_key: draw(st.lists(st.floats(0, 100) | st.integers(0, 100), min_size=size, max_size=size)),
        draw(st.sampled_from(["clip", "clip", "other"])): draw(st.lists(entry, min_size=size, max_size=size)),
    }
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "other spelling":
        other = "frame_offsets" if frames_key == "frame_offset" else "frame_offset"
        doc[other] = draw(st.just(doc[frames_key]) | st.lists(st.integers(0, 300), max_size=size + 1))
    elif mutation == "drop a key":
        doc.pop(draw(st.sampled_from(sorted(doc))))
    elif mutation == "odd offsets":
        doc[draw(st.sampled_from([frames_key, times_key]))] = draw(st.lists(numbers | scalars, min_size=size, max_size=size))
    elif mutation == "odd entries":
        key = "clip" if "clip" in doc else "other"
        doc[key][draw(st.integers(0, size - 1))] = draw(json_values)
    elif mutation == "length":
        doc[times_key] = doc[times_key][:-1]
    elif mutation == "metadata":
        doc["framesearch"] = draw(st.fixed_dictionaries({}, optional={"fps": numbers, "model": scalars, "video": scalars}))
    return doc


def check_valid(parsed: ParsedResults) -> None:
    """What every accepted file guarantees to the indexer."""
    n = len(parsed.frames)
    assert n >= 1 and len(parsed.timestamps) == n and parsed.vectors.shape[0] == n
    assert parsed.vectors.dtype == np.float32 and np.isfinite(parsed.vectors).all()
    assert np.linalg.norm(parsed.vectors, axis=1).min() > 0
    assert all(isinstance(f, int) and 0 <= f <= 2**53 for f in parsed.frames) and len(set(parsed.frames)) == n
    assert all(math.isfinite(t) and t >= 0 for t in parsed.timestamps)
    assert parsed.timestamps == sorted(parsed.timestamps)
    assert parsed.sample_fps() is None or 0 < parsed.sample_fps() < math.inf


def parse_or_refuse(data) -> ParsedResults | None:
    try:
        parsed = parse_results(data, where="fuzz.json")
    except ResultsFormatError as exc:
        assert str(exc).startswith("fuzz.json: ") and len(str(exc)) < 500
        return None
    check_valid(parsed)
    return parsed


@FUZZ
@given(json_values)
def test_any_json_value_is_refused_cleanly_or_parsed(data):
    parse_or_refuse(data)


@FUZZ
@given(documents())
def test_results_like_documents_are_refused_cleanly_or_valid(doc):
    parse_or_refuse(doc)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_refused_cleanly_or_parsed(raw):
    try:
        check_valid(parse_results_bytes(raw, where="upload"))
    except ResultsFormatError as exc:
        assert str(exc).startswith("upload: ")


@FUZZ
@given(
    st.lists(
        st.lists(st.floats(-1, 1, width=32), min_size=3, max_size=3).filter(lambda v: max(map(abs, v)) > 1e-3),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["dict-nested", "dict-flat", "bare-flat", "bare-nested"]),
    st.data(),
)
def test_valid_files_parse_to_exactly_their_numbers(rows, shape, data):
    nulls = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    wrap = {
        "dict-nested": lambda v: {"embeddings": [v]},
        "dict-flat": lambda v: {"embeddings": v},
        "bare-flat": lambda v: v,
        "bare-nested": lambda v: [v],
    }[shape]
    entries = [None if null else wrap(v) for v, null in zip(rows, nulls, strict=True)]
    frames = [i * 8 for i in range(len(rows))]
    doc = {"frame_offset": frames, "time_offset": [f / 24 for f in frames], "clip": entries}
    parsed = parse_or_refuse(doc)
    kept = [v for v, null in zip(rows, nulls, strict=True) if not null]
    if not kept:
        assert parsed is None
        return
    assert parsed is not None and parsed.skipped == sum(nulls)
    np.testing.assert_array_equal(parsed.vectors, np.asarray(kept, dtype=np.float32))
    assert parsed.frames == [f for f, null in zip(frames, nulls, strict=True) if not null]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from framesearch.service.app import create_app
    from framesearch.settings import Settings

    with TestClient(create_app(Settings(store=tmp_path_factory.mktemp("fuzz") / "store"))) as c:
        yield c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=documents().map(lambda d: json.dumps(d).encode()) | st.binary(max_size=100), dry_run=st.booleans())
def test_the_upload_route_answers_4xx_or_201_never_500(client, body, dry_run):
    params = {"model": "clip/fuzz", "dry_run": str(dry_run).lower()}
    answer = client.post("/videos/fuzz/results", content=body, params=params, headers={"content-type": "application/json"})
    assert answer.status_code in (201, 409, 422), answer.text
    assert set(answer.json()) >= ({"video_id", "frames"} if answer.status_code == 201 else {"error", "detail"})


# ---- huge inputs, measured in a child process: peak memory (ru_maxrss) and the one error line -------------------

GIANT_MB = 64  # one string of this size exercises the same bounds as 1 GB: it stays a span of the mapped file
PEAK_MB = 400  # the interpreter (~120-180 MB here), the file's pages touched once, and the arrays a file needs
MEASURE = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(done.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
    "sys.stdout.write(done.stderr)"
)


def measured_cli(*args: str) -> tuple[int, int, str]:
    """`framesearch ARGS` in a child: (exit status, peak resident MB of it and its children, stderr)."""
    import subprocess
    import sys

    from tests.helpers.crash import ROOT

    cmd = [sys.executable, "-c", MEASURE, sys.executable, "-m", "framesearch", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    code, peak, stderr = done.stdout.split("\n", 2)
    return int(code), int(peak), stderr


def giant_document(where: str, size: int) -> str:
    giant = "x" * size
    vector = "[1.0, 0.5, 0.25]"
    frames, clip, meta, extra = (
        "[0, 12]",
        f'[{{"embeddings": [{vector}]}}, {{"embeddings": [{vector}]}}]',
        '{"model": "clip/giant"}',
        "",
    )
    if where == "model name":
        meta = f'{{"model": "{giant}"}}'
    elif where == "video name":
        meta = f'{{"model": "clip/giant", "video": "{giant}"}}'
    elif where == "frame offsets":
        frames = f'"{giant}"'
    elif where == "an embedding":
        clip = f'[{{"embeddings": "{giant}"}}, {{"embeddings": [{vector}]}}]'
    elif where == "a key":
        extra = f', "{giant}": 1'
    elif where == "an unknown field":
        extra = f', "notes": "{giant}"'
    return f'{{"frame_offset": {frames}, "time_offset": [0.0, 0.5], "clip": {clip}, "framesearch": {meta}{extra}}}'


@pytest.mark.slow
@pytest.mark.parametrize(
    "where, outcome",
    [
        ("model name", "length <= 4096"),
        ("video name", "length <= 4096"),
        ("frame offsets", "must be a list of numbers"),
        ("an embedding", "frame 0 is not a vector"),
        ("a key", None),
        ("an unknown field", None),
    ],
)
def test_a_results_file_holding_one_giant_string(tmp_path, where, outcome):
    """A 64 MB string anywhere in a results file: a short error naming what is wrong, or (where the string is not
    read) the file's two frames; peak memory under PEAK_MB either way, and the string never echoed."""
    path = tmp_path / "giant.json"
    path.write_text(giant_document(where, GIANT_MB << 20))
    code, peak, stderr = measured_cli("--store", str(tmp_path / "s"), "ingest", "results", str(path), "--dry-run")
    print(f"a {GIANT_MB} MB string as {where}: exit {code}, peak {peak} MB")  # docs/reliability.md's figures
    assert peak < PEAK_MB, peak
    assert len(stderr) < 3000 and "x" * 100 not in stderr, stderr[:500]
    if outcome is None:
        assert code == 0, stderr
    else:
        assert code == 1 and stderr.strip().splitlines()[-1].startswith("error:") and outcome in stderr, stderr


MILLION = 10**6
MILLION_PEAK_MB = 600  # interpreter + the file's pages (released as they are decoded) + frames, times, 4-d vectors


@pytest.mark.slow
def test_a_results_file_of_a_million_frames_parses_in_bounded_memory(tmp_path):
    """10^6 frames of 4-d vectors (a ~70 MB file): parsed and checked (`--dry-run`, no store writes) with a peak
    under MILLION_PEAK_MB; the vectors themselves take 16 MB as float32."""
    path = tmp_path / "million.json"
    with path.open("w") as out:
        out.write('{"frame_offset": [')
        out.write(",".join(map(str, range(0, 2 * MILLION, 2))))
        out.write('], "time_offset": [')
        out.write(",".join(f"{i / 12:.4f}" for i in range(MILLION)))
        out.write('], "clip": [')
        out.write(",".join(f"[1,0.5,{i % 7},0.25]" for i in range(MILLION)))
        out.write('], "framesearch": {"model": "clip/million"}}')
    code, peak, stderr = measured_cli("--store", str(tmp_path / "s"), "ingest", "results", str(path), "--dry-run", "--json")
    print(f"{MILLION} frames, {path.stat().st_size >> 20} MB: exit {code}, peak {peak} MB")  # docs/reliability.md
    assert code == 0, stderr
    assert peak < MILLION_PEAK_MB, peak
