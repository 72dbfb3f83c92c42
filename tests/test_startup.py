"""A CLI call loads only what it needs: `--help` no engine at all, a search no ONNX Runtime unless it embeds text,
never torch or qdrant-client on the embedded store (checked in a fresh interpreter's sys.modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from framesearch.cli.main import BLAS_THREAD_VARS
from tests.conftest import empty_collection, results_json

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"onnxruntime", "torch", "qdrant_client", "av", "PIL", "fastapi", "uvicorn", "transformers", "tokenizers"}
DUMP = """
import atexit, json, os, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(m.split(".")[0] for m in sys.modules))))
atexit.register(lambda: open(out + ".blas", "w").write(os.environ.get("OPENBLAS_NUM_THREADS", "unset")))
sys.argv[0] = "framesearch"
from framesearch.cli.thin import main  # the console script's entry point
main()
"""


def loaded(tmp_path: Path, *args: str, env: dict[str, str] | None = None, code: int = 0) -> set[str]:
    """Top-level packages imported by `framesearch ARGS` in a fresh interpreter (which exits with `code`)."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", DUMP, str(out), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == code, done.stderr
    loaded.stderr = done.stderr
    return set(json.loads(out.read_text()))


@pytest.fixture
def store(tmp_path):
    vectors = [[1.0, 0.5, 0, 0, 0, 0, 0, 0.25]] * 4
    (tmp_path / "v.json").write_text(json.dumps(results_json([0, 12, 24, 36], [0, 0.5, 1, 1.5], vectors)))
    (tmp_path / "q.json").write_text(json.dumps(vectors[0]))
    loaded(tmp_path, "--store", str(tmp_path / "s"), "ingest", "results", str(tmp_path / "v.json"), "--model", "clip/startup")
    return tmp_path


def test_help_loads_no_engine_and_no_validation_library(tmp_path):
    modules = loaded(tmp_path, "--help")
    assert not modules & (HEAVY | {"numpy", "qdrant_edge", "pydantic_settings"})
    assert not loaded(tmp_path, "search", "--help") & (HEAVY | {"numpy", "qdrant_edge"})


def test_version_loads_nothing_heavy(tmp_path):
    assert not loaded(tmp_path, "--version") & (HEAVY | {"numpy", "qdrant_edge", "pydantic_settings"})


def test_serve_refuses_a_taken_port_before_loading_anything(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        modules = loaded(tmp_path, "--store", str(tmp_path / "s"), "serve", "--port", str(port), code=1)
    assert loaded.stderr == f"error: port {port} is in use (choose another with --port)\n"
    assert not modules & (HEAVY | {"qdrant_edge"}) and not (tmp_path / "s").exists()  # no model, no store opened


def test_serve_refuses_a_public_address_without_a_key_before_loading_anything(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("FRAMESEARCH_API_KEY", "FRAMESEARCH_READ_API_KEY")}
    modules = loaded(tmp_path, "--store", str(tmp_path / "s"), "serve", "--host", "0.0.0.0", env=env, code=1)
    assert loaded.stderr.startswith("error: refusing to listen on 0.0.0.0 without an API key")
    assert not modules & (HEAVY | {"qdrant_edge"}) and not (tmp_path / "s").exists()


def test_a_vector_search_loads_the_embedded_store_only(store):
    modules = loaded(store, "--store", str(store / "s"), "search", "--vector-file", str(store / "q.json"))
    assert "qdrant_edge" in modules
    assert not modules & HEAVY


@pytest.mark.slow
def test_a_text_search_loads_onnx_runtime_but_no_torch_or_qdrant_client(tmp_path, tiny_clip_dir):
    store = empty_collection(tmp_path / "s")
    modules = loaded(tmp_path, "--store", str(store), "--model", str(tiny_clip_dir), "search", "red")
    assert {"onnxruntime", "tokenizers"} <= modules
    assert not modules & {"torch", "qdrant_client", "av", "fastapi", "transformers"}


def blas_threads(tmp_path: Path) -> str:
    """OPENBLAS_NUM_THREADS as the last `loaded` call's process ended."""
    return (tmp_path / "modules.json.blas").read_text()


def test_a_command_starts_numpy_with_one_blas_thread_unless_the_user_chose(store):
    """OpenBLAS's busy-waiting thread pool cost a one-query process more CPU than its search."""
    clean = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARS}
    args = ("--store", str(store / "s"), "search", "--vector-file", str(store / "q.json"))
    assert "numpy" in loaded(store, *args, env=clean)
    assert blas_threads(store) == "1"
    loaded(store, *args, env={**clean, "OMP_NUM_THREADS": "3"})
    assert blas_threads(store) == "unset"
    loaded(store, *args, env={**clean, "OPENBLAS_NUM_THREADS": "2"})
    assert blas_threads(store) == "2"


def test_neither_tower_spins(tiny_clip):
    """Idle ONNX Runtime threads sleep: a query's text tower's, and ingest's image tower's (a spinning pool took
    the cores an ingest decodes and detects cuts on: docs/performance.md)."""

    def spinning(tower: str) -> str:
        options = tiny_clip._session(tower).get_session_options()
        try:
            return options.get_session_config_entry("session.intra_op.allow_spinning")
        except RuntimeError:  # not set: ORT's default, spinning
            return "default"

    assert spinning("textual") == "0"
    assert spinning("visual") == "0"


READ_ENGINES = {"numpy", "qdrant_edge", "onnxruntime", "av", "fastapi", "uvicorn", "torch", "qdrant_client", "cv2"}


@pytest.mark.parametrize("command", [("videos", "list"), ("store", "info"), ("search",)])
def test_read_commands_help_loads_no_engine(tmp_path, command):
    assert not loaded(tmp_path, *command, "--help") & READ_ENGINES


THIN = {"typer", "click", "pydantic", "pydantic_settings", "httpx", "numpy"}  # what the full app would load


@pytest.mark.slow
def test_read_commands_through_a_running_service_load_no_store_engine_and_no_web_framework(store):
    """While `serve` holds the store, read commands ask it: no Qdrant Edge, numpy or FastAPI here; the tables (and
    csv) are printed by the thin client, which loads not even Typer or pydantic (cli/thin.py)."""
    from tests.helpers.server import running_service

    env = {**os.environ, "FRAMESEARCH_STORE": str(store / "s")}
    with running_service({"FRAMESEARCH_STORE": str(store / "s")}, store / "serve.log"):
        for command in (("videos", "list"), ("videos", "list", "--json"), ("store", "info"), ("store", "info", "--json")):
            assert not loaded(store, *command, env=env) & READ_ENGINES, command
        vector = ("--vector-file", str(store / "q.json"))
        for command in (("videos", "list"), ("store", "info"), ("search", *vector), ("search", *vector, "--format", "csv")):
            assert not loaded(store, *command, env=env) & (READ_ENGINES | THIN), command
        # what the thin client does not print goes to the full app: JSON, and any error answer
        assert "pydantic" in loaded(store, "videos", "list", "--json", env=env)
        assert "typer" in loaded(store, "search", *vector, "--limit", "0", env=env, code=1)
        assert "limit" in loaded.stderr and loaded.stderr.startswith("error:")
