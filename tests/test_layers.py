"""The package's layers, read off the tree: a module imports only its own package or a lower layer; no cycles.

Every module of every depth of each layer folder is read, and relative imports count as the absolute names they
resolve to. The rules are functions of a tree, so the self-checks feed them synthetic trees with known faults."""

from __future__ import annotations

import ast
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# module name -> its folder: framesearch/ itself, and each layer's top-level folder (linked into framesearch/)
FOLDERS = {p: p.split(".")[-1] for p in CONFIG["packages"]}
FOUNDATION = "framesearch"

# Data flows one way: foundation -> store, embedders -> ingest -> search core -> the edges (HTTP, then the CLI,
# which starts the HTTP service). Equal ranks may not import each other.
RANKS = {
    "framesearch": 0,
    "framesearch.store": 1,
    "framesearch.embedders": 1,
    "framesearch.ingest": 2,
    "framesearch.search": 3,
    "framesearch.service": 4,
    "framesearch.cli": 5,
}
ENTRY_POINTS = {"framesearch.__main__"}


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = path.relative_to(folder).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def modules(root: Path = ROOT, folders: dict[str, str] = FOLDERS) -> dict[str, Path]:
    """Module name -> file, at every depth of each layer folder (the foundation: the files of framesearch/ itself,
    whose sub-folders are the layers, linked in)."""
    found = {}
    for package, name in folders.items():
        folder = root / name
        if package == FOUNDATION:
            paths = sorted(folder.glob("*.py"))
        else:
            paths = sorted(
                Path(top, f)
                for top, dirs, files in os.walk(folder)  # symlinks to folders are not followed
                if "__pycache__" not in Path(top).parts
                for f in files
                if f.endswith(".py")
            )
        found.update({_module_name(package, folder, p): p for p in paths})
    return found


def package_of(module: str, ranks: dict[str, int] = RANKS) -> str:
    """The layer package a module belongs to (the longest package-dir prefix)."""
    return max((p for p in ranks if module == p or module.startswith(p + ".")), key=len)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute module an `ImportFrom` names (relative ones resolved against `module`); None if it leaves the tree."""
    if node.level == 0:
        return node.module
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(path: Path, module: str, top_level_only: bool = False) -> set[str]:
    """Every module (or module attribute) a file imports, relative imports made absolute."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, path.name == "__init__.py")
            if target is None:
                names.add("." * node.level + (node.module or ""))  # beyond the top package: never allowed
                continue
            names.add(target)
            names.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def imports(path: Path, module: str, top_level_only: bool = False) -> set[str]:
    """framesearch modules that a file imports (anywhere in it, or only at module level)."""
    names = imported_names(path, module, top_level_only)
    return {n for n in names if n == FOUNDATION or n.startswith(FOUNDATION + ".")}


def layer_violations(found: dict[str, Path], ranks: dict[str, int] = RANKS) -> dict[str, list[str]]:
    """Module -> the framesearch modules it imports from its own rank or above (another package)."""
    wrong: dict[str, list[str]] = {}
    for module, path in found.items():
        if module in ENTRY_POINTS:
            continue
        own = package_of(module, ranks)
        bad = [t for t in imports(path, module) if package_of(t, ranks) != own and ranks[package_of(t, ranks)] >= ranks[own]]
        bad += [n for n in imported_names(path, module) if n.startswith(".")]  # a relative import out of the tree
        if bad:
            wrong[module] = sorted(bad)
    return wrong


def import_cycle(found: dict[str, Path]) -> list[str] | None:
    """A cycle of module-level imports among `found`, if there is one."""
    graph = {m: {t for t in imports(p, m, top_level_only=True) if t in found and t != m} for m, p in found.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*trail, node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            return cycle
    return None


def test_every_folder_is_a_ranked_layer():
    assert set(FOLDERS) == set(RANKS) == set(CONFIG["packages"])


REAL = modules()  # the project's own tree, read once


@pytest.mark.parametrize("module", sorted(set(REAL) - ENTRY_POINTS))
def test_no_module_imports_a_higher_or_sibling_layer(module):
    wrong = layer_violations({module: REAL[module]})
    assert not wrong, f"{module} (layer {package_of(module)}) imports {wrong[module]}"


def test_no_file_imports_the_old_top_level_packages():
    old = {Path(f).name for f in FOLDERS.values()} - {FOUNDATION}
    for path in [*modules().values(), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("training/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n and n.split(".")[0] in old for n in names), f"{path} imports a top-level {names}"


def test_product_code_imports_neither_tests_nor_training():
    for module, path in modules().items():
        names = imported_names(path, module)
        assert not any(n.split(".")[0] in {"tests", "training"} for n in names), f"{module} imports {names}"


def test_module_level_imports_have_no_cycle():
    cycle = import_cycle(modules())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# The self-checks: the same rules over synthetic trees, with and without a fault.


def _tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return modules(root)


CLEAN = {
    "framesearch/__init__.py": "",
    "framesearch/errors.py": "",
    "store/__init__.py": "",
    "store/base.py": "from framesearch.errors import *\n",
    "store/deep/__init__.py": "",
    "store/deep/er/__init__.py": "",
    "store/deep/er/disk.py": "from . import sibling\nfrom .. import er\nfrom ...base import X\nfrom ....errors import E\n",
    "store/deep/er/sibling.py": "",
    "service/__init__.py": "",
    "service/app.py": "from framesearch.store.deep.er.disk import f\n",
}


def test_the_tree_is_read_at_every_depth_with_relative_imports_resolved(tmp_path):
    found = _tree(tmp_path, CLEAN)
    assert "framesearch.store.deep.er.disk" in found and "framesearch.store.deep" in found
    disk = imports(found["framesearch.store.deep.er.disk"], "framesearch.store.deep.er.disk")
    assert {"framesearch.store.deep.er.sibling", "framesearch.store.deep.er", "framesearch.store.base.X"} <= disk
    assert "framesearch.errors.E" in disk  # four dots from store/deep/er/disk.py: the foundation package
    init = imports(found["framesearch.store.deep"], "framesearch.store.deep")
    assert init == set()
    assert layer_violations(found) == {} and import_cycle(found) is None


@pytest.mark.parametrize(
    ("name", "text", "culprit"),
    [
        ("store/deep/er/up.py", "def f():\n    from framesearch.service.app import create_app\n", "framesearch.service.app"),
        ("store/deep/er/up.py", "from ....service import app\n", "framesearch.service"),
        ("store/deep/__init__.py", "from ...service.app import create_app\n", "framesearch.service.app"),
        ("store/deep/er/out.py", "from ..... import anything\n", "....."),
    ],
    ids=["absolute-deep-in-a-function", "relative-deep", "relative-in-a-package-init", "relative-beyond-the-top"],
)
def test_the_layer_rule_catches_a_violation(tmp_path, name, text, culprit):
    found = _tree(tmp_path, {**CLEAN, name: text})
    module = _module_name("framesearch.store", tmp_path / "store", tmp_path / name)
    wrong = layer_violations(found)
    assert list(wrong) == [module] and culprit in wrong[module]


def test_the_cycle_rule_catches_a_relative_cycle(tmp_path):
    found = _tree(tmp_path, {**CLEAN, "store/deep/er/sibling.py": "from .disk import f\n"})
    cycle = import_cycle(found)
    assert cycle is not None and {"framesearch.store.deep.er.disk", "framesearch.store.deep.er.sibling"} <= set(cycle)
