"""Hostile input: every one the hardening issue found answers a 4xx `{"error", "detail"}` over HTTP and one
`error:` line (exit 1) on the CLI; property tests feed any JSON value to every request model; a bounded OpenAPI
fuzz run (schemathesis) checks every operation for 5xx and for answers that break the documented schemas."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from framesearch.cli import app as cli_app
from framesearch.errors import InvalidInput
from framesearch.ingest.requests import JobRequest, LocalIngest, ResultsIngest, RoboflowIngest
from framesearch.search.models import FrameRef, SearchFilters, SearchRequest, SimilarRequest
from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.validation import build
from tests.conftest import empty_collection, results_json
from tests.helpers.server import free_port, running_service

KEY = "fuzz-key-0b1d"
DEEP = "[" * 50_000 + "]" * 50_000
HUGE = "1" + "0" * 400
JSON = {"content-type": "application/json"}


def echoes(text: str) -> bool:
    """Whether an answer repeats a hostile value back (NaN, infinities, a 400-digit number)."""
    return any(marker in text for marker in ("NaN", "Infinity", "1" + "0" * 50, "\\ud800"))


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("hostile")
    settings = Settings(store=root / "store", model=str(tiny_clip_dir), roboflow_api_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def indexed(client, tiny_clip):
    from tests.helpers.tiny_clip import solid_frame

    vectors = tiny_clip.embed_images([solid_frame("red")] * 3).tolist()
    doc = results_json([0, 12, 24], [0.0, 0.5, 1.0], vectors)
    answer = client.post("/videos/v/results", json=doc, params={"model": "tests/tiny-colour-clip"})
    assert answer.status_code == 201, answer.text
    return doc


def results_doc(frames: list, times: list) -> str:
    vector = "[1.0, 0.5, 0.25]"
    clip = ", ".join(f'{{"embeddings": [{vector}]}}' for _ in frames)
    return f'{{"frame_offset": [{", ".join(map(str, frames))}], "time_offset": [{", ".join(map(str, times))}], "clip": [{clip}]}}'


HOSTILE_HTTP = [
    ("GET", "/search", {"params": {"q": "red", "t_min": "nan"}}),
    ("GET", "/search", {"params": {"q": "red", "t_max": "inf"}}),
    ("GET", "/search", {"params": {"q": "red", "t_min": "-inf"}}),
    ("GET", "/search", {"params": {"q": "red", "t_max": "1e400"}}),
    ("POST", "/search", {"content": '{"q": "red", "t_min": NaN}', "headers": JSON}),
    ("POST", "/search", {"content": '{"q": "red", "t_max": Infinity}', "headers": JSON}),
    ("POST", "/search", {"content": '{"q": "red", "t_max": -Infinity, "t_min": 1}', "headers": JSON}),
    ("POST", "/search", {"content": '{"q": "\\ud800 red"}', "headers": JSON}),
    ("POST", "/search", {"content": f'{{"q": "red", "limit": {HUGE}}}', "headers": JSON}),
    ("POST", "/search", {"content": DEEP, "headers": JSON}),
    ("POST", "/search", {"content": '{"q": ' * 20_000 + '"x"' + "}" * 20_000, "headers": JSON}),
    ("POST", "/search/similar", {"content": f'{{"like": {{"video_id": "v", "frame": {HUGE}}}}}', "headers": JSON}),
    ("POST", "/search/similar", {"content": '{"like": {"video_id": "\\ud800", "frame": 1}}', "headers": JSON}),
    ("POST", "/search/similar", {"content": DEEP, "headers": JSON}),
    ("POST", "/videos/x/results?fps=nan", {"content": results_doc([0, 1], [0, 0.5]), "headers": JSON}),
    ("POST", "/videos/x/results?fps=inf", {"content": results_doc([0, 1], [0, 0.5]), "headers": JSON}),
    ("POST", "/videos/x/results?fps=-inf", {"content": results_doc([0, 1], [0, 0.5]), "headers": JSON}),
    ("POST", "/videos/x/results", {"content": results_doc([0, HUGE], [0, 0.5]), "headers": JSON}),
    ("POST", "/videos/x/results", {"content": results_doc([0, 1], [0, HUGE]), "headers": JSON}),
    ("POST", "/videos/x/results", {"content": results_doc([0, 1], [0, "NaN"]), "headers": JSON}),
    ("POST", "/videos/x/results", {"content": DEEP, "headers": JSON}),
    ("POST", "/videos/%00/results", {"content": results_doc([0, 1], [0, 0.5]), "headers": JSON}),
    ("POST", "/jobs", {"content": "[" * 30_000 + "]" * 30_000, "headers": JSON}),
    ("POST", "/jobs", {"content": '{"url": "https://example.com/v.mp4", "fps": NaN}', "headers": JSON}),
    ("POST", "/jobs", {"content": '{"url": "https://example.com/v.mp4", "fps": 1e400}', "headers": JSON}),
    ("POST", "/jobs", {"content": '{"url": "https://example.com/\\ud800.mp4", "video_id": "\\ud800"}', "headers": JSON}),
    ("POST", "/jobs", {"content": b"--x\r\ngarbage", "headers": {"content-type": "multipart/form-data; boundary=x"}}),
    ("GET", "/videos/v/thumbnail", {"params": {"t": "nan"}}),
    ("GET", "/videos/v/thumbnail", {"params": {"t": "1e400"}}),
    ("POST", "/search/image", {"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\xff" * 64, "image/png")}}),
    ("POST", "/search/image", {"files": {"file": ("x.png", b"GIF89a" + b"\x00" * 32, "image/gif")}, "data": {"t_min": "nan"}}),
]


@pytest.mark.parametrize("method, url, kwargs", HOSTILE_HTTP, ids=[f"{m} {u} {i}" for i, (m, u, _) in enumerate(HOSTILE_HTTP)])
def test_hostile_http_input_is_a_4xx_error_answer_that_echoes_nothing(client, indexed, method, url, kwargs):
    answer = client.request(method, url, **kwargs)
    assert 400 <= answer.status_code < 500, answer.text[:300]
    assert set(answer.json()) == {"error", "detail"} and answer.json()["detail"]
    assert not echoes(answer.text), answer.text[:300]
    assert client.get("/videos").json()["count"] == 1  # nothing was indexed by any of them


# ---- the CLI: one line, exit 1 -----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    written = {
        "deep.json": DEEP,
        "huge-frame.json": results_doc([0, HUGE], [0, 0.5]),
        "nan-time.json": results_doc([0, 1], [0, "NaN"]),
        "good.json": results_doc([0, 12], [0, 0.5]),
        "video.mp4": "not really a video",
    }
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in written}


HOSTILE_CLI = [
    ["ingest", "local", "{video.mp4}", "--fps", "nan"],
    ["ingest", "local", "{video.mp4}", "--fps", "inf"],
    ["ingest", "results", "{good.json}", "--fps", "nan"],
    ["ingest", "results", "{good.json}", "--fps", "-inf"],
    ["ingest", "results", "{deep.json}"],
    ["ingest", "results", "{huge-frame.json}"],
    ["ingest", "results", "{nan-time.json}"],
    ["ingest", "roboflow", "https://example.com/v.mp4", "--fps", "nan"],
    ["search", "red", "--from", "nan"],
    ["search", "red", "--to", "inf"],
    ["search", "red", "--threshold", "nan"],
    ["search", "red\ud800"],
    ["search", "--vector-file", "{deep.json}"],
    ["search", "--vector-file", "{huge-frame.json}"],
]


@pytest.mark.parametrize("args", HOSTILE_CLI, ids=[" ".join(a) for a in HOSTILE_CLI])
def test_hostile_cli_input_is_one_error_line(tmp_path, files, args):
    filled = [files[a[1:-1]].as_posix() if a.startswith("{") else a for a in args]
    result = runner.invoke(cli_app, ["--store", str(tmp_path / "store"), *filled], env={"ROBOFLOW_API_KEY": "k"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert not echoes(result.output)


# ---- property tests of the request models -------------------------------------------------------------------

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # lone surrogates included
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
KEYS = TEXT.filter(lambda key: not echoes(key))  # field names are named in messages (cut short): not values
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)
MODELS = [SearchFilters, SearchRequest, SimilarRequest, FrameRef, ResultsIngest, LocalIngest, RoboflowIngest, JobRequest]


def field_dicts(model) -> st.SearchStrategy:
    """Objects with the model's own field names (so values reach every validator), or any keys at all."""
    named = st.fixed_dictionaries({}, optional={name: JSON_VALUES for name in model.model_fields})
    return named | st.dictionaries(KEYS, JSON_VALUES, max_size=3)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_value_is_a_valid_model_or_a_clean_invalid_input(model, data):
    value = data.draw(field_dicts(model) | JSON_VALUES)
    try:
        built = (
            build(model, **value)
            if isinstance(value, dict) and all(isinstance(k, str) for k in value)
            else build(model, value=value)
        )
    except InvalidInput as exc:
        assert str(exc) and not echoes(str(exc)) and len(str(exc)) < 2000
    else:
        assert isinstance(built, model)
        json.loads(built.model_dump_json())  # a valid model is plain, finite JSON


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON_VALUES, route=st.sampled_from(["/search", "/search/similar", "/jobs"]))
def test_any_json_body_is_answered_without_a_server_error(client, indexed, body, route):
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True)
    answer = client.post(route, content=raw, headers=JSON)
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error", "detail"}


# ---- an OpenAPI fuzz run: every operation, a bounded number of examples ------------------------------------


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory, tiny_clip_dir, tiny_clip):
    """A real `framesearch serve` (a subprocess on loopback) with a key, holding one video; yields its base URL."""
    import httpx

    from tests.helpers.tiny_clip import solid_frame

    root = tmp_path_factory.mktemp("fuzz")
    env = {
        "FRAMESEARCH_STORE": str(root / "store"),
        "FRAMESEARCH_MODEL": str(tiny_clip_dir),
        "FRAMESEARCH_API_KEY": KEY,
        "FRAMESEARCH_MAX_UPLOAD_MB": "4",
        "API_URL": f"http://127.0.0.1:{free_port()}",
        "ROBOFLOW_API_KEY": "k",
    }
    with running_service(env, root / "serve.log") as service:
        vectors = tiny_clip.embed_images([solid_frame("red")] * 2).tolist()
        answer = httpx.post(
            f"{service.base}/videos/v/results",
            json=results_json([0, 12], [0.0, 0.5], vectors),
            params={"model": "tests/tiny-colour-clip"},
            headers={"X-API-Key": KEY},
            timeout=60,  # the first upload starts the store and parser processes: seconds on a loaded machine
        )
        assert answer.status_code == 201, answer.text
        yield service.base
    assert "Traceback" not in (root / "serve.log").read_text()


# The documented schema, as the app describes itself (made without starting it); the run goes to fuzz_service.
schema = schemathesis.openapi.from_dict(create_app(Settings(store=Path("unused"), api_key=KEY)).openapi())
URL_BUDGET = 12_000  # uvicorn (h11) refuses longer request lines with its own plain-text 400, before the app
SERVER_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}


@schema.hook
def filter_case(ctx, case) -> bool:
    """Leave out requests whose URL alone passes the HTTP server's limit (docs/reliability.md says so)."""
    from urllib.parse import urlencode

    url = len(urlencode(case.query or {}, doseq=True)) + sum(len(str(v)) for v in (case.path_parameters or {}).values())
    framing = {k.lower() for k in (case.headers or {})} & SERVER_HEADERS  # malformed framing: uvicorn answers itself
    # a server-sent event stream stays open (tests/test_alerts.py covers it): here its one-answer form only
    endless = case.path == "/alerts/events" and str((case.query or {}).get("stream", True)).lower() not in ("false", "0")
    return url < URL_BUDGET and not framing and not endless


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_no_server_errors_and_answers_match_the_schema(case, fuzz_service):
    case.call_and_validate(base_url=fuzz_service, headers={"X-API-Key": KEY}, checks=CHECKS)


# ---- model folders are validated on load -------------------------------------------------------------------


def broken_model(tmp_path: Path, source: Path, change) -> Path:
    import shutil

    folder = tmp_path / "broken-model"
    shutil.copytree(source, folder)
    change(folder)
    return folder


def truncate_tokenizer(folder: Path) -> None:
    text = (folder / "tokenizer.json").read_text()
    (folder / "tokenizer.json").write_text(text[: len(text) // 2])


def wrong_embed_dim(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["embed_dim"] = config["embed_dim"] // 2
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("change, words", [(truncate_tokenizer, "not a valid tokenizer"), (wrong_embed_dim, "embed_dim")])
def test_a_broken_model_folder_is_a_clean_model_error(tmp_path, tiny_clip_dir, change, words):
    from framesearch.embedders.onnx_clip import OnnxClip
    from framesearch.errors import ModelError

    folder = broken_model(tmp_path, tiny_clip_dir, change)
    with pytest.raises(ModelError, match=words):
        OnnxClip(folder).embed_texts(["red"])
    store = empty_collection(tmp_path / "s")
    result = runner.invoke(cli_app, ["--store", str(store), "--model", str(folder), "search", "red"])
    assert result.exit_code == 1 and result.output.startswith("error:") and words in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
