"""framesearch/files.py: files written whole or not at all."""

from __future__ import annotations

import pytest

from framesearch.files import atomic_path, write_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_part(tmp_path):
    target = tmp_path / "sub" / "state.json"
    write_atomic(target, "old")
    write_atomic(target, b"new", durable=True)
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_part(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as part:
        part.write_text("half")
        assert part.name.endswith(".part") and part.parent == tmp_path
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
