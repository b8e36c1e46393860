"""``nao show``'s options (the drawing: :mod:`pipelines.commands.show`)."""

from __future__ import annotations

from pathlib import Path

from search_spaces import DEFAULT_SPACE

from ..common import deferred


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
    p.set_defaults(run=deferred("show"))
