"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import json

from nao.errors import ConfigError


def _number(cast: type, noun: str, ok, requirement: str):
    """An argparse ``type=`` that parses with ``cast`` and checks ``ok(value)``."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text} must be {requirement}")
        return value

    return parse


positive_int = _number(int, "a whole number", lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
fraction = _number(float, "a number", lambda v: 0 <= v < 1, "in [0, 1)")
non_negative_float = _number(float, "a number", lambda v: v >= 0, "0 or more")
positive_float = _number(float, "a number", lambda v: v > 0, "more than 0")


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

