"""``nao show``: draw one architecture (and print it as text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from search_spaces import get_space

from ..viz.drawing import describe, draw


def default_out(space_name: str) -> Path:
    """``nasbench-graph-cora-arch.png`` for ``nasbench-graph:cora``, in the current directory."""
    return Path(f"{space_name.replace(':', '-')}-arch.png")


def run(args: argparse.Namespace):
    space = get_space(args.space)
    arch = space.from_string(args.arch)
    graphs = space.graph(arch)
    text = space.to_string(arch)
    path = draw(graphs, args.out or default_out(space.name), title=f"{space.name}   {text}")
    path = path.resolve()
    out = {"space": space.name, "arch": text, "path": str(path)}
    if args.quiet:
        return out, f"wrote {path}"
    return out, f"{describe(graphs)}\nwrote {path}"
