"""Parsing and validating Roboflow video inference results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from framesearch.errors import ResultsFormatError
from framesearch.ingest.results import load_results_file, parse_results, to_results_json
from tests.conftest import results_json


def test_singular_spelling_with_nested_embeddings():
    parsed = parse_results(results_json([0, 8, 16], [0.0, 0.3333, 0.6667], [[1, 0], [0, 1], [1, 1]]))
    assert parsed.frames == [0, 8, 16]
    assert parsed.timestamps == [0.0, 0.3333, 0.6667]
    assert parsed.vectors.shape == (3, 2) and parsed.dim == 2
    assert parsed.skipped == 0
    assert parsed.sample_fps() == pytest.approx(3.0, abs=0.01)
    assert parsed.video_fps() == pytest.approx(24.0, abs=0.01)


def test_plural_spelling_and_flat_vectors():
    data = {"frame_offsets": [0, 5], "time_offsets": [0.0, 0.2], "clip": [{"embeddings": [1.0, 2.0]}, {"embeddings": [3, 4]}]}
    parsed = parse_results(data)
    np.testing.assert_allclose(parsed.vectors, [[1, 2], [3, 4]])


def test_null_frames_are_skipped_and_counted():
    parsed = parse_results(results_json([0, 1, 2, 3], [0, 1, 2, 3], [[1, 0], None, [0, 1], None]))
    assert parsed.frames == [0, 2] and parsed.skipped == 2


def test_clip_list_under_another_model_key_is_found():
    data = {"frame_offset": [0], "time_offset": [0.0], "my-clip": [{"embeddings": [[1, 0]]}]}
    assert parse_results(data).model_key == "my-clip"


def test_frames_come_out_in_time_order():
    parsed = parse_results(results_json([10, 0], [1.0, 0.0], [[1, 0], [0, 1]]))
    assert parsed.frames == [0, 10]
    np.testing.assert_allclose(parsed.vectors[0], [0, 1])


BAD = {
    "not an object": ([1, 2], "expected a JSON object"),
    "missing frames": ({"time_offset": [0], "clip": [{"embeddings": [1]}]}, "frame_offset"),
    "missing times": ({"frame_offset": [0], "clip": [{"embeddings": [1]}]}, "time_offset"),
    "no clip": ({"frame_offset": [0], "time_offset": [0]}, "no CLIP list"),
    "lengths differ": (results_json([0, 1], [0.0], [[1], [2]]), "differ in length"),
    "empty": (results_json([], [], []), "no frames"),
    "all null": (results_json([0, 1], [0, 1], [None, None]), "every frame is null"),
    "dims differ": (results_json([0, 1], [0, 1], [[1, 0], [1, 0, 0]]), "differ in dimension"),
    "nan": (results_json([0], [0], [[1.0, math.nan]]), "non-finite"),
    "string value": (results_json([0], [0], [["a", 1]]), "non-numeric"),
    "empty vector": (results_json([0], [0], [[]]), "non-empty vector"),
    "no embeddings key": ({"frame_offset": [0], "time_offset": [0], "clip": [{"predictions": []}, {"embeddings": [1]}]}, None),
    "negative time": (results_json([0], [-1.0], [[1]]), "time offset 0"),
    "fractional frame": (results_json([0.5], [0.0], [[1]]), "frame offset 0"),
    "duplicate frame": (results_json([3, 3], [0.1, 0.2], [[1], [1]]), "appears twice"),
    "zero vector": (results_json([0], [0], [[0.0, 0.0]]), "all zeros"),
    "frames not a list": ({"frame_offset": 3, "time_offset": [0], "clip": [None]}, "must be a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_results_fail_with_a_message_naming_the_problem(case):
    data, message = BAD[case]
    with pytest.raises(ResultsFormatError) as info:
        parse_results(data, where="input.json")
    assert str(info.value).startswith("input.json")
    if message:
        assert message in str(info.value)


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ResultsFormatError, match="nope.json: no such file"):
        load_results_file(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ResultsFormatError, match="broken.json: not valid JSON"):
        load_results_file(broken)


def test_local_results_round_trip_through_the_parser(tmp_path):
    vectors = np.asarray([[1.0, 2.0], [3.0, 4.0]])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(to_results_json([0, 15], [0.0, 0.5], vectors)))
    parsed = load_results_file(path)
    assert parsed.frames == [0, 15] and parsed.timestamps == [0.0, 0.5]
    np.testing.assert_allclose(parsed.vectors, vectors)
