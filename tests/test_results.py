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


# ---- every entry shape Roboflow's docs and tools produce ---------------------------------------------------

SHAPES = {
    "dict, nested": {"time": 0.01, "embeddings": [[1.0, 2.0]]},
    "dict, flat": {"embeddings": [1.0, 2.0]},
    "bare, flat": [1.0, 2.0],
    "bare, nested": [[1.0, 2.0]],
    "integers": [1, 2],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_entry_shape_gives_the_same_vector(shape):
    data = {"frame_offset": [0, 5], "time_offset": [0.0, 0.5], "clip": [SHAPES[shape], None]}
    parsed = parse_results(data)
    np.testing.assert_allclose(parsed.vectors, [[1.0, 2.0]])
    assert parsed.frames == [0] and parsed.skipped == 1


def test_shapes_may_mix_within_one_file():
    data = {"frame_offset": list(range(5)), "time_offset": [i / 2 for i in range(5)], "clip": list(SHAPES.values())}
    assert parse_results(data).vectors.shape == (5, 2)


REFUSED = {
    "frame lists disagree": (
        {"frame_offset": [0, 1], "frame_offsets": [0, 2], "time_offset": [0, 1], "clip": [[1], [1]]},
        "'frame_offset' and 'frame_offsets' are both given and disagree",
    ),
    "time lists disagree": (
        {"frame_offset": [0, 1], "time_offset": [0, 1], "time_offsets": [0, 1, 2], "clip": [[1], [1]]},
        "'time_offset' and 'time_offsets' are both given and disagree",
    ),
    "two vectors in a dict": (
        results_json([0], [0], [[1, 2]]) | {"clip": [{"embeddings": [[1, 2], [3, 4]]}]},
        "frame 0 holds 2 vectors",
    ),
    "two bare vectors": (
        {"frame_offset": [0, 1], "time_offset": [0, 1], "clip": [[1, 2], [[1, 2], [3, 4]]]},
        "frame 1 holds 2 vectors",
    ),
    "nested too deep": ({"frame_offset": [0], "time_offset": [0], "clip": [[[[1, 2]]]]}, "nested too deeply"),
    "numbers and lists mixed": ({"frame_offset": [0], "time_offset": [0], "clip": [[1, [2]]]}, "mixes numbers and lists"),
    "a boolean": (results_json([0], [0], [[True, 1.0]]), "non-numeric"),
    "a null in a vector": (results_json([0], [0], [[None, 1.0]]), "non-numeric"),
    "a number beyond float64": ({"frame_offset": [0], "time_offset": [0], "clip": [[10**400]]}, "out-of-range"),
    "a number beyond float32": (results_json([0], [0], [[1e39, 1.0]]), "overflows float32"),
    "an integer frame of 10^400": (results_json([10**400], [0], [[1.0]]), "frame_offset 0 is not a number"),
    "a vector too small to normalise": (results_json([0], [0], [[0.0, 1e-39]]), "too small or too large to normalise"),
    "a huge frame": (results_json([2**60], [0], [[1.0]]), "frame offset 0"),
    "a string frame": (results_json(["3"], [0], [[1.0]]), "frame_offset 0 is not a number"),
    "a huge time": (results_json([0], [1e12], [[1.0]]), "time offset 0"),
    "entries not a list": ({"frame_offset": [0], "time_offset": [0], "clip": {"embeddings": [1]}}, "'clip' must be a list"),
    "a number as an entry": ({"frame_offset": [0], "time_offset": [0], "clip": [3]}, "frame 0 is not a vector"),
    "embeddings null": ({"frame_offset": [0], "time_offset": [0], "clip": [{"embeddings": None}]}, "no 'embeddings'"),
    "bad metadata": (results_json([0], [0], [[1.0]]) | {"framesearch": {"fps": "fast"}}, "'framesearch'"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_shapes_say_what_is_wrong(case):
    data, message = REFUSED[case]
    with pytest.raises(ResultsFormatError) as info:
        parse_results(data, where="in.json")
    assert str(info.value).startswith("in.json: ") and message in str(info.value)
    assert len(str(info.value)) < 400  # never a dump of the input


def test_equal_frame_lists_under_both_spellings_are_fine():
    data = results_json([0, 1], [0, 1], [[1], [2]]) | {"frame_offsets": [0, 1]}
    assert parse_results(data).frames == [0, 1]


def test_nan_written_by_pythons_json_is_named(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(results_json([0], [0], [[math.nan, 1.0]])))
    with pytest.raises(ResultsFormatError, match=r"a non-finite number at byte \d+ \(JSON numbers are finite\)"):
        load_results_file(path)


def test_an_empty_file_and_a_bare_list_are_refused(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(ResultsFormatError, match="empty.json: the file is empty"):
        load_results_file(empty)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ResultsFormatError, match="expected a JSON object, got list"):
        load_results_file(listed)


def test_a_file_and_the_same_bytes_in_memory_parse_alike(tmp_path):
    from framesearch.ingest.results import parse_results_bytes

    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1300, 16)).astype(np.float32)  # several decode batches
    doc = to_results_json(list(range(0, 13000, 10)), [i / 3 for i in range(1300)], vectors)
    doc["clip"][700] = None
    raw = json.dumps(doc).encode()
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    from_file, from_bytes = load_results_file(path), parse_results_bytes(raw)
    assert from_file.frames == from_bytes.frames and len(from_file.frames) == 1299
    np.testing.assert_array_equal(from_file.vectors, from_bytes.vectors)
    np.testing.assert_array_equal(from_file.vectors, np.delete(vectors, 700, axis=0))
    assert from_file.content_hash == from_bytes.content_hash and len(from_file.content_hash) == 64


@pytest.mark.parametrize(
    ("video_fps", "every", "expected"),
    [(29.97, 10, 3.0), (12.5, None, 2.0), (24.0, 12, 2.0), (25.0, 50, 0.5), (30.0, 20, 1.5)],
)
def test_the_sampling_rate_is_derived_from_the_offsets(video_fps, every, expected):
    if every is None:  # 2 fps of a 12.5 fps video: the nearest frames, so the steps jitter (0.48 s, 0.56 s)
        frames = [round(i * video_fps / expected) for i in range(40)]
    else:
        frames = [i * every for i in range(40)]
    times = [round(f / video_fps, 4) for f in frames]
    vectors = [[1.0, 0.0]] * len(frames)
    assert parse_results(results_json(frames, times, vectors)).sample_fps() == expected
    dropped = [v if i % 7 else None for i, v in enumerate(vectors)]  # failed frames keep their offsets
    assert parse_results(results_json(frames, times, dropped)).sample_fps() == expected
    holes = [i for i in range(40) if i not in (5, 6, 20)]  # frames missing altogether
    sparse = results_json([frames[i] for i in holes], [times[i] for i in holes], [vectors[i] for i in holes])
    assert parse_results(sparse).sample_fps() == expected


def test_what_infer_records_beside_the_lists_is_read():
    doc = to_results_json([0, 10], [0.0, 0.3337], np.eye(2), meta={"model": "m/x", "video": "a b.mp4", "fps": 3.0})
    parsed = parse_results(doc)
    assert (parsed.meta.model, parsed.meta.video, parsed.meta.fps) == ("m/x", "a b.mp4", 3.0)


@pytest.mark.parametrize(("times", "expected"), [([0.0, 1e4, 2e4], 1e-4), ([0.0, 3000.0], 3.33e-4)])
def test_a_slow_or_impossible_sampling_rate_is_never_zero(times, expected):
    vectors = [[1.0, 0.0]] * len(times)
    assert parse_results(results_json(list(range(len(times))), times, vectors)).sample_fps() == expected
