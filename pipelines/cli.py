"""``nao`` console script: argparse subcommands, ``--json`` output, exit 2 with one line on bad
input."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nao.errors import NaoError

from .commands import COMMANDS


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (then exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nao", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def emit(result: dict, as_json: bool, summary: str) -> None:
    """JSON object on stdout with ``--json``, else the human summary."""
    if as_json:
        json.dump(result, sys.stdout, default=_jsonable)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(summary.rstrip("\n") + "\n")


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result, summary = args.run(args)
    except NaoError as exc:
        sys.stderr.write(f"nao {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"nao {args.command}: interrupted; evaluations so far are in the store\n")
        return 130
    emit(result, getattr(args, "json", False), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
