"""Plugins: search spaces, strategies and one-shot methods that other installed packages add, by entry point.

A package declares them in its ``pyproject.toml`` (see docs/plugins.md)::

    [project.entry-points."nao.spaces"]
    mytable = "mytable:make_space"     # make_space(arg: str | None) -> SearchSpace
    [project.entry-points."nao.strategies"]
    local = "mytable:LocalSearch"      # a Strategy subclass: LocalSearch(space, random_state, **options)
    [project.entry-points."nao.oneshot"]
    mygrad = "mytable:MY_METHOD"       # a pipelines.oneshot.methods.OneShotMethod (nao ws --controller)

Listing them reads only package metadata (milliseconds), so ``--help`` stays fast; a plugin's
module is imported when it is used. Whatever goes wrong inside a plugin (its module does not
import, its factory raises, it returns the wrong thing) is a :class:`ConfigError` naming the
plugin and its package: one line from the command line, and the other spaces and strategies go
on working.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, NaoError

SPACES = "nao.spaces"
STRATEGIES = "nao.strategies"
ONESHOT = "nao.oneshot"
_WHAT = {SPACES: "space", STRATEGIES: "strategy", ONESHOT: "one-shot method"}


def entry_points(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed plugins of ``group`` by name (the first on ``sys.path`` where two packages
    use one name), read from the packages on the current ``sys.path``."""
    return dict(_scan(group, tuple(sys.path)))


@functools.lru_cache(maxsize=8)
def _scan(group: str, path: tuple[str, ...]) -> tuple[tuple[str, importlib.metadata.EntryPoint], ...]:
    try:
        found = importlib.metadata.entry_points(group=group)
    except Exception:  # noqa: BLE001 - damaged metadata of some package must not stop nao
        return ()
    named: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in found:
        named.setdefault(ep.name, ep)
    return tuple(named.items())


def describe(ep: importlib.metadata.EntryPoint) -> str:
    """How a message names a plugin: ``mytable = mytable:make_space (package mytable 0.1)``."""
    dist = getattr(ep, "dist", None)
    source = f" (package {dist.name} {dist.version})" if dist is not None else ""
    return f"{ep.name} = {ep.value}{source}"


REASON_CHARS = 200  # of a plugin's own message: its first line, cut to this length


def _reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(first) > REASON_CHARS:
        first = first[:REASON_CHARS] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def failure(group: str, ep: importlib.metadata.EntryPoint, doing: str,
            exc: BaseException) -> ConfigError:
    """The one-line error of a plugin that failed while ``doing`` something."""
    return ConfigError(f"{_WHAT[group]} plugin {describe(ep)} failed {doing}: {_reason(exc)}; "
                       "fix or uninstall that package (the other spaces and strategies work)")


def load(group: str, ep: importlib.metadata.EntryPoint) -> Any:
    """The object an entry point names, its module imported now."""
    try:
        return ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is the plugin's
        raise failure(group, ep, "to load", exc) from exc


def call(group: str, ep: importlib.metadata.EntryPoint, factory: Callable[..., Any],
         *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)`` where a plugin's own :class:`NaoError` (a bad option, said
    its own way) passes through, and any other exception becomes one line naming the plugin."""
    try:
        return factory(*args, **kwargs)
    except NaoError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported, not a traceback
        raise failure(group, ep, "when called", exc) from exc
