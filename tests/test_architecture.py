"""The package's architecture, enforced: which layer may import which (the data flows one way),
no import cycles between modules, no two modules with one name, third-party imports where they
belong. docs/architecture.md explains the rules; this file is their single source of truth."""

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "infersim"

# Modules at the top of the package that every layer may use (they import nothing above them).
BASE = {"errors", "units", "dtypes"}
# layer -> the layers it may import (besides itself and BASE). Arrows point down the data flow:
# spec files -> specs -> model (on kernels) -> cost -> design_space / analysis / accuracy -> report -> api -> cli.
ALLOWED = {
    "kernels": set(),
    "specs": set(),
    "model": {"kernels", "specs"},
    "cost": {"kernels", "specs", "model"},
    "design_space": {"kernels", "specs", "model", "cost"},
    "analysis": {"kernels", "specs", "model", "cost", "design_space"},
    "accuracy": {"kernels", "specs", "model", "cost"},
    "report": {"specs", "model", "cost", "design_space", "analysis", "accuracy"},
    "api": {"kernels", "specs", "model", "cost", "design_space", "analysis", "accuracy", "report"},
    "cli": {"kernels", "specs", "model", "cost", "design_space", "analysis", "accuracy", "report", "api", "__init__"},
    "__init__": {"api"},
    "__main__": {"cli"},
    **{b: BASE for b in BASE},
}
# Third-party packages that only some layers may import.
ONLY_IN = {"matplotlib": {"report"}, "dask": {"design_space"}, "distributed": {"design_space"}}
KERNEL_IMPORTS = {"numpy", "numba"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def module_name(path: Path) -> str:
    parts = ["infersim", *path.relative_to(PKG).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def imports_of(path: Path) -> list[str]:
    """Absolute names of everything `path` imports (module level and inside functions); for
    `from package import name` the submodule package.name when there is one."""
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")] \
                if base.startswith("infersim") else []
            names += subs or [base]
    return names


def violations(layer: str, names) -> list[str]:
    found = []
    for name in names:
        top = name.split(".")[0]
        if top in ONLY_IN and layer not in ONLY_IN[top]:
            found.append(f"{top} imported in {layer}/ (allowed only in {', '.join(sorted(ONLY_IN[top]))})")
        if layer == "kernels":
            if not (top in KERNEL_IMPORTS or top in sys.stdlib_module_names or name.startswith("infersim.kernels")):
                found.append(f"kernels import numpy, numba and each other only, found {name}")
            continue
        if top != "infersim":
            continue
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        if target == layer or target in BASE:
            continue
        if target not in ALLOWED:
            found.append(f"{name}: unknown layer '{target}' (add it to ALLOWED and docs/architecture.md)")
        elif target not in ALLOWED.get(layer, set()):
            found.append(f"{layer} imports {name}: against the data flow")
    return found


FILES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_layering(path):
    assert violations(layer_of(path), imports_of(path)) == [], path


def import_graph() -> dict[str, set[str]]:
    graph = defaultdict(set)
    for path in FILES:
        src = module_name(path)
        for name in imports_of(path):
            if name.startswith("infersim"):
                while not _is_module(name):  # 'infersim.x.func' -> 'infersim.x'
                    name = name.rsplit(".", 1)[0]
                if name != src:
                    graph[src].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_two_modules_share_a_name():
    names = defaultdict(list)
    for path in FILES:
        if path.name != "__init__.py":
            names[path.stem].append(str(path.relative_to(PKG)))
    for folder in {p.parent for p in FILES if p.parent != PKG}:
        names[folder.name].append(str(folder.relative_to(PKG)) + "/")
    assert {n: p for n, p in names.items() if len(p) > 1} == {}


def test_the_rules_catch_wrong_imports():
    assert violations("model", ["infersim.report.tables"])
    assert violations("kernels", ["infersim.specs.chip"])
    assert violations("kernels", ["pandas"])
    assert violations("analysis", ["matplotlib.pyplot"])
    assert violations("design_space", ["infersim.analysis.compare"])
    assert violations("accuracy", ["infersim.analysis.compare"])
    assert not violations("report", ["matplotlib.pyplot", "infersim.analysis.frontier"])
    # relative imports resolve to absolute module names
    assert "infersim.kernels.step" in imports_of(PKG / "model" / "evaluate.py")


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
