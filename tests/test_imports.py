"""Dependencies point one way: ``pipelines`` -> ``search_spaces`` -> ``nao``, no module of the
three imports itself back through others, and inside ``pipelines`` the rooms import each other
only along the arrows docs/architecture.md draws (``ROOMS``).

The imports are read with ``ast`` (top-level, function-level and ``TYPE_CHECKING`` ones; relative
imports resolved), not by importing, so a cycle is caught even where Python happens to survive it
(a lazy import inside a function, a name only typing needs).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nao", "search_spaces", "pipelines")
# what each package may import of the others: the core knows no space and no command
ALLOWED = {"nao": set(), "search_spaces": {"nao"}, "pipelines": {"nao", "search_spaces"}}
# inside pipelines/, the arrows of docs/architecture.md's picture: what each room may import of
# the other rooms (a room is a subpackage or a top module; "pipelines" is the package's __init__)
EVERY_ROOM = frozenset({"pipelines.options", "pipelines.progress", "pipelines.strategies",
                        "pipelines.search",
                        "pipelines.training", "pipelines.viz", "pipelines.oneshot",
                        "pipelines.commands", "pipelines.cli"})
ROOMS = {
    "pipelines": set(),
    "pipelines.options": set(),
    "pipelines.progress": set(),
    "pipelines.strategies": {"pipelines.options"},
    "pipelines.search": {"pipelines.strategies", "pipelines.training"},  # TrainEvaluator
    "pipelines.training": {"pipelines.progress"},
    "pipelines.viz": set(),
    "pipelines.oneshot": {"pipelines.search", "pipelines.training", "pipelines.strategies",
                          "pipelines.options"},
    "pipelines.commands": EVERY_ROOM,
    "pipelines.cli": EVERY_ROOM,
}


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name -> file of every module under ``packages`` (a package is its __init__)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a ``from ... import`` reads, with its leading dots resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ``known`` that importing ``module`` may run: the named modules, the
    submodules imported with ``from pkg import sub``, and the packages above them whose
    ``__init__`` runs first (not ``module``'s own packages, which are already running)."""
    is_package = path.name == "__init__.py"
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            named.add(source)
            named |= {f"{source}.{alias.name}" for alias in node.names}
    own = {".".join(module.split(".")[:k]) for k in range(1, module.count(".") + 2)}
    if not is_package:
        own.discard(module)
    out: set[str] = set()
    for name in named:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            if prefix in known and prefix not in own and prefix != module:
                out.add(prefix)
    return out


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    found = modules(root, packages)
    return {name: imported_names(name, path, set(found)) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        ring = list(reversed(err.args[1]))[1:]  # graphlib lists it against the arrows
        start = ring.index(min(ring))  # the same cycle reads the same on every run
        ring = ring[start:] + ring[:start]
        return [*ring, ring[0]]
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    top = {name: name.split(".")[0] for name in graph}
    return sorted(f"{src} imports {dst}" for src, dsts in graph.items() for dst in dsts
                  if top[dst] != top[src] and top[dst] not in ALLOWED[top[src]])


def room(module: str) -> str:
    """``pipelines.search.loop`` -> ``pipelines.search``; ``pipelines`` itself is a room."""
    return ".".join(module.split(".")[:2])


def room_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports between rooms of pipelines/ that the picture does not draw, and rooms it lacks."""
    inside = {src: {d for d in dsts if d.split(".")[0] == "pipelines"}
              for src, dsts in graph.items() if src.split(".")[0] == "pipelines"}
    unknown = sorted({room(src) for src in inside} - set(ROOMS))
    wrong = sorted(f"{src} imports {dst}" for src, dsts in inside.items() for dst in dsts
                   if room(src) in ROOMS and room(dst) != room(src)
                   and room(dst) not in ROOMS[room(src)])
    return [f"room {r} is not in the picture" for r in unknown] + wrong


# ----- the rules on this repository ------------------------------------------------------------
def test_no_module_of_nao_search_spaces_or_pipelines_is_part_of_an_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_nao_imports_no_space_or_pipeline_and_spaces_import_no_pipeline():
    wrong = layer_violations(import_graph())
    assert not wrong, "against the layers (pipelines -> search_spaces -> nao): " + "; ".join(wrong)


def test_rooms_of_pipelines_import_only_what_the_architecture_picture_draws():
    wrong = room_violations(import_graph())
    assert not wrong, ("against docs/architecture.md's picture (change the code, or the picture "
                       "and ROOMS together): " + "; ".join(wrong))


def test_the_walk_sees_relative_function_level_and_package_imports():
    graph = import_graph()
    assert len(graph) > 40 and {"nao", "nao.estimator", "pipelines.cli"} <= set(graph)
    assert "search_spaces.base" in graph["search_spaces.enas_micro"]  # from .base import ...
    assert "search_spaces.enas_micro" in graph["search_spaces"]  # inside a factory function
    assert {"nao", "nao.errors"} <= graph["search_spaces.base"]  # nao/__init__ runs first
    assert "search_spaces" not in graph["search_spaces.base"]  # its own package is running


# ----- the checks themselves, on made-up packages ----------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("late_import", [
    "from b import g\n",  # top level
    "def f():\n    from b.g import x\n",  # inside a function
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from b import g\n",  # typing only
])
def test_a_cycle_through_a_package_init_is_found_however_it_is_imported(tmp_path, late_import):
    _write(tmp_path, {"a/__init__.py": "", "a/m.py": "from . import n\n",
                      "a/n.py": "import b.g\n",
                      "b/__init__.py": "", "b/g.py": "from a.m import k\n"})
    assert find_cycle(import_graph(tmp_path, ("a", "b"))) == ["a.m", "a.n", "b.g", "a.m"]
    _write(tmp_path, {"b/g.py": "", "b/__init__.py": "import c\n", "c/__init__.py": late_import})
    graph = import_graph(tmp_path, ("a", "b", "c"))
    assert graph["c"] == {"b", "b.g"}
    assert find_cycle(graph) == ["b", "c", "b"]


def test_relative_imports_resolve_against_the_module_or_package(tmp_path):
    _write(tmp_path, {"p/__init__.py": "from .q import x\n", "p/q.py": "from .r import y\n",
                      "p/r.py": "", "p/s/__init__.py": "from .. import q\n",
                      "p/s/t.py": "from ..r import z\nfrom . import u\n", "p/s/u.py": ""})
    graph = import_graph(tmp_path, ("p",))
    assert graph == {"p": {"p.q"}, "p.q": {"p.r"}, "p.r": set(), "p.s": {"p.q"},
                     "p.s.t": {"p.r", "p.s.u"}, "p.s.u": set()}
    assert find_cycle(graph) is None


def test_an_import_against_the_layers_is_named():
    graph = {"nao.x": {"search_spaces.y"}, "search_spaces.y": {"nao.z", "pipelines.w"},
             "nao.z": set(), "pipelines.w": {"nao.z", "search_spaces.y"}}
    assert layer_violations(graph) == ["nao.x imports search_spaces.y",
                                       "search_spaces.y imports pipelines.w"]


def test_an_import_between_rooms_the_picture_lacks_is_named():
    graph = {"pipelines.viz.draw": {"pipelines.search.loop", "nao.metrics"},
             "pipelines.search.loop": {"pipelines.strategies.base", "pipelines.search.store"},
             "pipelines.search.store": set(), "pipelines.strategies.base": set(),
             "pipelines.attic.old": {"pipelines.viz.draw"}}
    assert room_violations(graph) == ["room pipelines.attic is not in the picture",
                                      "pipelines.viz.draw imports pipelines.search.loop"]
