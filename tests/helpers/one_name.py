"""One name per module while the tests run: the layer folders are importable only as `framesearch.<layer>`.

The repository root is on `sys.path` (pytest puts it there for `tests.*`), so `import service.api` would load
`service/api.py` a second time as a different module object: a monkeypatch of one name then misses the other.
`block_second_names()` makes such an import fail at once; `modules_loaded_twice()` is the end-of-run check.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layer_folders() -> set[str]:
    """The top-level folders linked into `framesearch/` (pyproject's package list)."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    return {p.split(".", 1)[1] for p in packages if "." in p}


class SecondNameBlocker(importlib.abc.MetaPathFinder):
    """Refuses `import store...` (a layer folder under its bare name) with a message naming the one name."""

    def __init__(self, folders: set[str]) -> None:
        self.folders = folders

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 (the finder protocol)
        if fullname.split(".", 1)[0] in self.folders:
            raise ImportError(f"import framesearch.{fullname}, not {fullname}: one module, one name")
        return None


def block_second_names() -> None:
    if not any(isinstance(f, SecondNameBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, SecondNameBlocker(layer_folders()))


def modules_loaded_twice(modules: dict | None = None) -> dict[str, list[str]]:
    """Files of this repository loaded as more than one module: real path -> module names."""
    seen: dict[str, list[str]] = {}
    for name, module in list((sys.modules if modules is None else modules).items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        real = os.path.realpath(file)
        if real.startswith(str(ROOT) + os.sep) and ".venv" not in real:
            seen.setdefault(real, []).append(name)
    return {path: names for path, names in seen.items() if len(names) > 1}
