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
