"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import json

from nao.errors import ConfigError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def add_common(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout (progress stays on stderr)")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    if seed:
        parser.add_argument("--seed", type=non_negative_int, default=0,
                            help="random seed; the same seed gives the same result (default 0)")


def parse_settings(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs (VALUE as JSON when it parses, else a string); ``a.b=1`` nests."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set top_k=20")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p} is both a value and a group")
        node[leaf] = value
    return out

