"""The `framesearch` command, driven in-process through Typer's CliRunner."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from framesearch.cli import app

runner = CliRunner()


@pytest.fixture
def cli(tmp_path, tiny_clip_dir):
    store = tmp_path / "store"

    def run(*args: str):
        return runner.invoke(app, ["--store", str(store), *args])

    run.store = store
    run.model = str(tiny_clip_dir)
    return run


def test_ingest_then_text_search_finds_the_right_time_range(cli, colour_results):
    path = colour_results("clip1", [("green", 3), ("red", 2), ("blue", 3)])
    result = cli("ingest", "results", str(path), "--model", cli.model)
    assert result.exit_code == 0, result.output
    assert "indexed clip1: 16 frames" in result.output
    found = cli("--model", cli.model, "search", "red", "--json")
    assert found.exit_code == 0, found.output
    top = json.loads(found.output)["results"][0]
    assert top["video_id"] == "clip1"
    assert (top["start"], top["end"]) == (2.75, 4.75)  # frames 3.0-4.5 s at 2 fps, results without a video: half an interval out
    assert top["score"] == pytest.approx(1.0, abs=1e-4)


def test_reingest_leaves_the_same_points(cli, colour_results):
    path = colour_results("v", [("red", 2), ("green", 2)])
    for _ in range(2):
        assert cli("ingest", "results", str(path), "--video-id", "same", "--model", cli.model).exit_code == 0
    listed = json.loads(cli("videos", "list", "--json").output)
    assert [(v["video_id"], v["frames"]) for v in listed] == [("same", 8)]


def test_video_id_defaults_to_the_file_name_less_json_and_several_files_at_once(cli, colour_results):
    a = colour_results("alpha", [("red", 1)])
    b = colour_results("beta", [("blue", 1)])
    result = cli("ingest", "results", str(a), str(b), "--model", cli.model, "--json")
    assert result.exit_code == 0, result.output
    assert [r["video_id"] for r in json.loads(result.output)] == ["alpha", "beta"]


def test_files_are_indexed_one_after_another_and_a_bad_one_is_named(cli, colour_results, tmp_path):
    good = colour_results("good", [("red", 1)])
    later = colour_results("later", [("blue", 1)])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"frame_offset": [0, 1], "time_offset": [0.0], "clip": [None, None]}))
    result = cli("ingest", "results", str(good), str(bad), str(later), "--model", cli.model)
    assert result.exit_code == 1
    assert "bad.json" in result.output and "differ in length" in result.output
    assert "1 of 3 files failed" in result.output
    assert [v["video_id"] for v in json.loads(cli("videos", "list", "--json").output)] == ["good", "later"]


def test_a_single_bad_file_writes_nothing(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"frame_offset": [0, 1], "time_offset": [0, 1], "clip": [[1.0, 0.0], [1.0, 0.0, 0.0]]}))
    result = cli("ingest", "results", str(bad), "--model", cli.model)
    assert result.exit_code == 1 and "bad.json" in result.output and "differ in dimension" in result.output
    assert json.loads(cli("videos", "list", "--json").output) == []


def test_search_with_a_vector_file_filters_and_threshold(cli, colour_results, tiny_clip, tmp_path):
    cli("ingest", "results", str(colour_results("a", [("red", 1), ("green", 1)])), "--model", cli.model)
    cli("ingest", "results", str(colour_results("b", [("red", 1)])), "--model", cli.model)
    vec = tmp_path / "v.json"
    vec.write_text(json.dumps(tiny_clip.embed_texts(["red"])[0].tolist()))
    both = json.loads(cli("search", "--vector-file", str(vec), "--json", "--threshold", "0.9").output)
    assert sorted(r["video_id"] for r in both["results"]) == ["a", "b"]
    only_b = json.loads(cli("search", "--vector-file", str(vec), "--video-id", "b", "--json").output)
    assert {r["video_id"] for r in only_b["results"]} == {"b"}
    frames = json.loads(cli("search", "--vector-file", str(vec), "--mode", "frames", "--limit", "3", "--json").output)
    assert len(frames["results"]) == 3 and all(r["score"] > 0.99 for r in frames["results"])


def test_query_with_another_model_is_refused(cli, colour_results, tmp_path):
    from tests.helpers.tiny_clip import build_tiny_clip

    other = build_tiny_clip(tmp_path / "other", name="tests/other-model")
    cli("ingest", "results", str(colour_results("a", [("red", 1)])), "--model", cli.model)
    result = cli("--model", str(other), "search", "red")
    assert result.exit_code == 1
    assert "tests/tiny-colour-clip" in result.output and "tests/other-model" in result.output


def test_ingest_of_another_models_vectors_is_refused(cli, colour_results, tmp_path):
    from tests.helpers.tiny_clip import build_tiny_clip

    cli("ingest", "results", str(colour_results("a", [("red", 1)])), "--model", cli.model)
    result = cli("ingest", "results", str(colour_results("b", [("red", 1)])), "--model", "clip/ViT-B-16")
    assert result.exit_code == 1 and "vectors are 8-d but clip/ViT-B-16 makes 512-d ones" in result.output
    other = build_tiny_clip(tmp_path / "other", name="tests/other-model")
    result = cli("ingest", "results", str(colour_results("b", [("red", 1)])), "--model", str(other))
    assert result.exit_code == 1 and "refusing" in result.output and "tests/other-model" in result.output


def test_delete_and_unknown_video(cli, colour_results):
    cli("ingest", "results", str(colour_results("a", [("red", 1)])), "--model", cli.model)
    assert "deleted a: 2 frames" in cli("videos", "delete", "a").output
    gone = cli("videos", "delete", "a")
    assert gone.exit_code == 1 and "no video 'a'" in gone.output


def test_search_input_errors(cli, tmp_path):
    assert cli("search").exit_code == 1
    assert "limit" in cli("search", "x", "--limit", "0").output
    bad = tmp_path / "v.json"
    bad.write_text('{"oops": 1}')
    assert cli("search", "--vector-file", str(bad)).exit_code == 1


def test_store_held_by_another_process_is_reported_clearly(cli, colour_results):
    from framesearch.store.edge import EdgeStore

    holder = EdgeStore(cli.store, "frames")
    try:
        result = cli("videos", "list")
        assert result.exit_code == 1
        assert "in use by" in result.output and "--qdrant-url" in result.output
    finally:
        holder.close()
    assert cli("videos", "list").exit_code == 0


def test_options_after_the_command_and_env_settings(cli, colour_results, monkeypatch, tmp_path):
    path = colour_results("a", [("red", 1)])
    other = tmp_path / "elsewhere"
    assert runner.invoke(app, ["ingest", "results", str(path), "--store", str(other), "--model", cli.model]).exit_code == 0
    monkeypatch.setenv("FRAMESEARCH_STORE", str(other))
    listed = runner.invoke(app, ["videos", "list", "--json"])
    assert [v["video_id"] for v in json.loads(listed.output)] == ["a"]


def test_error_messages_keep_square_brackets(cli, tmp_path):
    result = cli("search", "--vector-file", str(tmp_path / "[v].json"))
    assert result.exit_code == 1
    assert "[v].json" in result.output


# ---- the CLI's manners ----------------------------------------------------------------------------------


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"framesearch {version('framesearch')}\n"


def all_commands() -> list[list[str]]:
    """Every command path of the app: [], ["ingest"], ["ingest", "local"], ..."""
    import typer.main

    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):  # a group (typer's own, not necessarily click's class)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "framesearch")
def test_help_prints_plain_metavars(path):
    """Typer is pinned to a line whose help is clean: no `<bool>` after flags, no `{inputs}...`, no None defaults."""
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for noise in ("<bool>", "<str>", "<path>", "<float>", "<int>", "<list", "{", "[default: None]"):
        assert noise not in result.stdout, f"{noise!r} in `framesearch {' '.join(path)} --help`:\n{result.stdout}"
    assert "Usage: " in result.stdout


def test_a_hint_never_repeats_what_its_message_says(tmp_path, monkeypatch):
    from tests.conftest import empty_collection

    for name in ("ROBOFLOW_API_KEY", "FRAMESEARCH_ROBOFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    store = str(empty_collection(tmp_path / "store"))
    result = runner.invoke(app, ["--store", store, "--model", "roboflow", "search", "a red circle"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Roboflow") and "set ROBOFLOW_API_KEY" in result.stderr
    assert "--model" not in result.stderr  # the user named the model: no "(choose the model with --model)"


def test_hints_are_added_once_and_only_when_new(capsys):
    from framesearch.cli.main import report
    from framesearch.errors import ModelError

    report(ModelError("--model roboflow is not an image model here"))
    report(ModelError("the model folder lacks textual.onnx"))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "error: --model roboflow is not an image model here",
        "error: the model folder lacks textual.onnx (choose the model with --model)",
    ]


def test_tables_keep_full_ids_when_piped(tmp_path, colour_results):
    import subprocess
    import sys

    long_id = "holidays/2024/" + "a-very-long-video-name-" * 6 + "final.mp4"
    store = str(tmp_path / "store")
    path = colour_results("long", [("red", 2)])
    added = runner.invoke(app, ["--store", store, "ingest", "results", str(path), "--video-id", long_id, "--model", "clip/p"])
    assert added.exit_code == 0, added.output
    piped = subprocess.run(
        [sys.executable, "-m", "framesearch", "--store", store, "videos", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert piped.returncode == 0 and long_id in piped.stdout, piped.stdout
    assert long_id in runner.invoke(app, ["--store", store, "videos", "list"]).stdout
    assert json.loads(runner.invoke(app, ["--store", store, "videos", "list", "--json"]).stdout)[0]["video_id"] == long_id


def test_ffmpeg_reasons_come_without_errno_numbers(cli, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    result = cli("ingest", "local", str(junk), "--model", cli.model)
    assert result.exit_code == 1
    assert "not a readable video (Invalid data found when processing input)" in result.output
    assert "Errno" not in result.output and "1094995529" not in result.output
