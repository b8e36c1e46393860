"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from collections.abc import Callable

from nao.errors import ConfigError
from nao.validation import shown, shown_key

from ..options import deep_merge
from ..progress import PlainProgress


def _number(cast: type, noun: str, ok, requirement: str):
    """An argparse ``type=`` that parses with ``cast`` and checks ``ok(value)``."""

    def parse(text: str):
        try:
            value = cast(text)
        except (ValueError, OverflowError):  # also integers past Python's 4300-digit limit
            raise argparse.ArgumentTypeError(f"{shown(text)} is not {noun}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{shown(text)} is not a finite number")
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{shown(text)} must be {requirement}")
        return value

    return parse


positive_int = _number(int, "a whole number", lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
fraction = _number(float, "a number", lambda v: 0 <= v < 1, "in [0, 1)")
non_negative_float = _number(float, "a number", lambda v: v >= 0, "0 or more")
positive_float = _number(float, "a number", lambda v: v > 0, "more than 0")


def deferred(command: str, check: Callable[[argparse.Namespace], object] | None = None):
    """A subcommand's ``run`` for its parser (:mod:`.parsers`): ``check(args)``, the checks
    that need neither torch nor data, then ``pipelines.commands.<command>`` imported and its
    ``run(args)`` returned. The module is imported only now, when the command runs, so that
    building the parser, ``--help`` and a refused option never wait for it."""

    def run(args: argparse.Namespace):
        if check is not None:
            check(args)
        return importlib.import_module(f"pipelines.commands.{command}").run(args)

    return run


def add_common(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout (progress stays on stderr)")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    if seed:
        parser.add_argument("--seed", type=non_negative_int, default=0,
                            help="random seed; the same seed gives the same result (default 0)")


def warn(command: str, text: str) -> None:
    """One warning line on stderr, ``nao COMMAND: warning: ...``: the input is valid and the
    command goes on, but it will not do what it looks like it will (or will be slow). Printed
    with ``--quiet`` too, which silences progress only."""
    sys.stderr.write(f"nao {command}: warning: {text}\n")


def parse_settings(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs (VALUE as JSON when it parses, else a string); ``a.b=1`` nests."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        names = key.split(".")
        if not sep or not all(n.strip() for n in names):
            raise ConfigError(f"--set {shown(item)}: expected KEY=VALUE (KEY names separated by "
                              "dots), e.g. --set top_k=20")
        value = _setting_value(raw)
        node = out
        *parents, leaf = (n.strip() for n in names)
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {shown(item)}: {shown_key(p)} is both a value and a "
                                  "group; set one or the other")
        if leaf in node and isinstance(node[leaf], dict) != isinstance(value, dict):
            raise ConfigError(f"--set {shown(item)}: {shown_key(leaf)} is both a value and a "
                              "group; set one or the other")
        # a group given whole (KEY={...}) merges into what earlier settings put under KEY
        node[leaf] = deep_merge(node[leaf], value) if isinstance(value, dict) and leaf in node \
            else value
    return out


def _setting_value(raw: str):
    """VALUE of ``--set KEY=VALUE``: JSON when it parses (numbers, true, null, lists, ...),
    else the text itself."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # also integers past Python's digit limit, deep nests
        return raw


STATUS_INTERVAL_S = 0.2  # a bar redraws the status of one activity at most this often


class StatusLine:
    """A tqdm bar's text after the counts: a summary of the steps so far (the best score),
    then what is being done between steps (NAO training its model), which the next step
    clears. On plain progress (stderr not a terminal) each new activity is a line of its own,
    its epochs are not."""

    def __init__(self, bar):
        self.bar, self.best, self.last, self.doing = bar, "", 0.0, ""

    def step(self, summary: str = "") -> None:
        self.best = summary
        self.bar.set_postfix_str(summary, refresh=False)
        self.bar.update(1)

    def status(self, text: str) -> None:
        """A status hook (a strategy's :attr:`~pipelines.strategies.base.Strategy.status`):
        a new activity (the text before its last ``,``) shows at once, its epoch counts at
        most every :data:`STATUS_INTERVAL_S`."""
        now, doing = time.monotonic(), text.rpartition(",")[0]
        new = doing != self.doing
        if new or now - self.last >= STATUS_INTERVAL_S:
            self.last, self.doing = now, doing
            line = ", ".join(filter(None, [self.best, text]))
            if isinstance(self.bar, PlainProgress):
                if new:
                    self.bar.write_line(line)
            else:
                self.bar.set_postfix_str(line)
