"""The conformance batteries of :mod:`serkit.testing` over the whole model and frontend
registries, and the layer contract of the package."""

import subprocess
import sys
from pathlib import Path

import pytest

from serkit.estimators import MODELS
from serkit.features import FRONTENDS
from serkit.testing import check_frontend, check_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_conforms(name):
    check_model(name)


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_every_registered_frontend_conforms(name):
    check_frontend(name)


def test_the_battery_can_fail():
    """A model that breaks the protocol (here: its probabilities do not sum to 1) is caught."""
    from serkit.estimators.logreg import LogReg

    class Broken(LogReg):
        name = "broken"

        def predict_proba(self, feats):
            return super().predict_proba(feats) * 2

    MODELS["broken"] = Broken
    try:
        with pytest.raises(AssertionError, match="sum to 1"):
            check_model("broken")
    finally:
        del MODELS["broken"]


def test_layers_import_only_downward():
    """import-linter's layers contract (pyproject.toml), the same check ``make lint`` runs."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter not installed (pip install 'serkit[dev]')")
    r = subprocess.run(
        [str(exe)], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout[-2000:]


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def _package_cycles(graph) -> list[tuple[str, list[str]]]:
    """Circles of imports between the direct children of each package (function-level imports
    included), as ``(package, [children in the circle])``."""
    import collections

    mods = graph.modules
    out = []
    for pkg in sorted({m.rsplit(".", 1)[0] for m in mods if "." in m}):
        depth = pkg.count(".") + 2
        edges = collections.defaultdict(set)
        for m in mods:
            if not m.startswith(pkg + "."):
                continue
            a = ".".join(m.split(".")[:depth])
            for imp in graph.find_modules_directly_imported_by(m):
                if imp.startswith(pkg + "."):
                    b = ".".join(imp.split(".")[:depth])
                    if b != a:
                        edges[a].add(b)
        out += [(pkg, comp) for comp in _circles(edges)]
    return out


def test_no_import_circle_inside_any_package_and_nothing_imports_the_root():
    """Issue 30 item 7: the layers contract checks packages against each other; this checks the
    modules inside each package (bundles <-> recognizer and features.base <-> hf were circles)
    and that no module reaches back up to ``serkit`` itself."""
    import grimp

    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [
        ["a", "b"]
    ]  # the finder finds a circle
    graph = grimp.build_graph("serkit")
    assert _package_cycles(graph) == []
    assert [
        m
        for m in graph.modules
        if m != "serkit" and "serkit" in graph.find_modules_directly_imported_by(m)
    ] == []
