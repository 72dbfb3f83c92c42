"""The thin client (cli/thin.py): which command lines it answers, and that it leaves everything else to the full app.

It answers only through a live service recorded beside the store; here no service runs, so every call it does not
refuse outright reaches the address lookup and is handed on (NotThin). Its output equals the full app's: checked
against a real `serve` in tests/test_served.py; what it imports: tests/test_startup.py.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framesearch.cli import thin
from framesearch.cli.thin import NotThin, parse
from framesearch.store.address import write_address


def test_parse_reads_words_options_in_both_spellings_repeats_and_flags():
    words, options = parse(
        ["--store", "/s", "search", "a cat", "--limit=5", "--not", "dog", "--not=cow", "--frames", "--from", "1.5"]
    )
    assert words == ["search", "a cat"]
    assert options == {"--store": ["/s"], "--limit": [5], "--not": ["dog", "cow"], "--frames": [True], "--from": [1.5]}


@pytest.mark.parametrize(
    "argv",
    [
        ["videos", "list", "--help"],
        ["search", "x", "-h"],
        ["search", "x", "--limit", "five"],
        ["search", "x", "--threshold", "nan"],
        ["search", "x", "--limit"],
        ["--model", "m", "search", "x"],
        ["--qdrant-url", "http://q:6333", "videos", "list"],
        ["search", "--", "-x"],
        ["search", "x", "--frames=yes"],
    ],
)
def test_parse_hands_on_what_it_does_not_know(argv):
    with pytest.raises(NotThin):
        parse(argv)


@given(st.lists(st.text(max_size=12), max_size=8))
def test_parse_answers_or_hands_on_for_any_command_line(argv):
    try:
        words, options = parse(argv)
    except NotThin:
        return
    assert all(isinstance(v, list) and v for v in options.values())
    assert all(w == "-" or not w.startswith("-") for w in words)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A store whose address file names a live process (this one) at a port nothing listens on."""
    for key in [k for k in os.environ if k.upper().startswith("FRAMESEARCH_")]:
        monkeypatch.delenv(key)
    write_address(tmp_path / "s", "http://127.0.0.1:9", "frames")
    return tmp_path / "s"


@pytest.mark.parametrize(
    "argv",
    [
        ["videos", "delete", "x"],  # not a read command
        ["videos", "list", "--json"],  # JSON is the full app's
        ["search", "x", "--format", "json"],
        ["search", "x", "--vector-file", "q.json"],  # both: the full app says which to give
        ["store", "info", "--limit", "3"],  # not its option
        ["videos", "list", "--frames"],
        ["videos", "list", "--limit", "-1"],
        ["search", "a", "b"],
    ],
)
def test_commands_outside_the_subset_go_to_the_full_app(served, argv, capsys):
    with pytest.raises(NotThin):
        thin.thin(["--store", str(served), *argv])
    assert capsys.readouterr() == ("", "")  # nothing printed before handing on


def test_no_live_service_or_another_collection_or_a_service_that_does_not_answer_goes_to_the_full_app(served, tmp_path, capsys):
    with pytest.raises(NotThin):  # nothing recorded
        thin.thin(["--store", str(tmp_path / "other"), "videos", "list"])
    with pytest.raises(NotThin):  # recorded for `frames`, asked for `clips`
        thin.thin(["--store", str(served), "--collection", "clips", "videos", "list"])
    with pytest.raises(NotThin):  # recorded, but nothing answers there
        thin.thin(["--store", str(served), "store", "info"])
    assert capsys.readouterr() == ("", "")


def test_settings_from_the_environment_are_read_as_the_settings_read_them(served, monkeypatch):
    monkeypatch.setenv("FRAMESEARCH_QDRANT_URL", "http://q:6333")
    with pytest.raises(NotThin):  # a Qdrant server: the full app opens it
        thin.thin(["--store", str(served), "videos", "list"])
    monkeypatch.delenv("FRAMESEARCH_QDRANT_URL")
    monkeypatch.setenv("framesearch_store", "")  # empty: the settings decide what that means
    with pytest.raises(NotThin):
        thin.thin(["videos", "list"])


def test_read_vector_file_takes_the_shapes_the_cli_documents(tmp_path):
    for data in ([1, 2], {"vector": [1, 2]}, {"embeddings": [[1, 2]]}):
        (tmp_path / "q.json").write_text(json.dumps(data))
        assert thin.read_vector_file(tmp_path / "q.json") == [1, 2]
    (tmp_path / "q.json").write_text('{"other": 1}')
    with pytest.raises(Exception, match="expected a JSON list"):
        thin.read_vector_file(tmp_path / "q.json")
