"""The package's layers, read off the tree: a module imports only its own package or a lower layer; no cycles."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# module name -> its folder: framesearch/ itself, and each layer's top-level folder (linked into framesearch/)
FOLDERS = {p: p.split(".")[-1] for p in CONFIG["packages"]}

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


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def package_of(module: str) -> str:
    """The layer package a module belongs to (the longest package-dir prefix)."""
    return max((p for p in RANKS if module == p or module.startswith(p + ".")), key=len)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """framesearch modules that a file imports (anywhere in it, or only at module level)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "framesearch" or n.startswith("framesearch.")}


def test_every_folder_is_a_ranked_layer():
    assert set(FOLDERS) == set(RANKS) == set(CONFIG["packages"])


@pytest.mark.parametrize("module", sorted(set(modules()) - ENTRY_POINTS))
def test_no_module_imports_a_higher_or_sibling_layer(module):
    own = package_of(module)
    wrong = []
    for target in imports(modules()[module]):
        other = package_of(target)
        if other != own and RANKS[other] >= RANKS[own]:
            wrong.append(target)
    assert not wrong, f"{module} (layer {own}) imports {sorted(wrong)}"


def test_no_file_imports_the_old_top_level_packages():
    old = {Path(f).name for f in FOLDERS.values()} - {"framesearch"}
    for path in [*modules().values(), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("training/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n and n.split(".")[0] in old for n in names), f"{path} imports a top-level {names}"


def test_product_code_imports_neither_tests_nor_training():
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n and n.split(".")[0] in {"tests", "training"} for n in names), f"{module} imports {names}"


def test_module_level_imports_have_no_cycle():
    found = modules()
    graph = {m: {t for t in imports(p, top_level_only=True) if t in found and t != m} for m, p in found.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_the_import_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from framesearch.service.app import create_app\n")
    assert "framesearch.service.app" in imports(bad)
    assert RANKS[package_of("framesearch.service.app")] > RANKS[package_of("framesearch.store.base")]
