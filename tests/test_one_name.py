"""The guard that keeps one name per module, and the import root every tool reads."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.helpers.one_name import ROOT, layer_folders, modules_loaded_twice


def test_a_layer_folder_cannot_be_imported_under_its_bare_name():
    with pytest.raises(ImportError, match="import framesearch.ingest, not ingest"):
        __import__("ingest.video")


def test_the_end_of_run_check_finds_a_file_loaded_twice():
    import framesearch.search.core as module

    twin = types.ModuleType("search.core")
    twin.__file__ = str(ROOT / "search" / "core.py")
    found = modules_loaded_twice({"framesearch.search.core": module, "search.core": twin})
    assert list(found.values()) == [["framesearch.search.core", "search.core"]]
    assert modules_loaded_twice({"framesearch.search.core": module}) == {}


def test_every_layer_folder_is_linked_into_the_package():
    for folder in layer_folders():
        link = ROOT / "framesearch" / folder
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), f"framesearch/{folder}"


@pytest.mark.parametrize("cwd", [ROOT, Path("/")])
def test_python_m_framesearch_works_from_any_folder(cwd):
    done = subprocess.run([sys.executable, "-m", "framesearch", "--help"], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "search" in done.stdout
