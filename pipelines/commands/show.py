"""``nao show``: draw one architecture (and print it as text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from search_spaces import DEFAULT_SPACE, get_space

from ..viz.drawing import describe, draw


def default_out(space_name: str) -> Path:
    """``nasbench-graph-cora-arch.png`` for ``nasbench-graph:cora``, in the current directory."""
    return Path(f"{space_name.replace(':', '-')}-arch.png")


def register(sub) -> None:
    p = sub.add_parser(
        "show", help="draw one architecture",
        description="Draw an architecture as a graph, one picture per cell, left to right from "
                    "the inputs; print the same graph as text (one line per node and what "
                    "feeds it).")
    p.add_argument("--space", default=DEFAULT_SPACE, help=f"search space (default {DEFAULT_SPACE})")
    p.add_argument("--arch", required=True, help="the architecture in the space's string form")
    p.add_argument("--out", type=Path, default=None,
                   help="picture to write; the suffix picks the format (default "
                        "SPACE-arch.png in the current directory, ':' in SPACE written '-')")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout instead of the text form")
    p.add_argument("--quiet", action="store_true",
                   help="print only the path of the picture, not the graph as text")
    p.set_defaults(run=run)


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
