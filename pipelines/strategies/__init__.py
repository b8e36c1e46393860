"""Strategy registry: a name on the command line -> a class and the options it starts from.

A preset (``nao-paper``) is one more entry: the same class under another name, with option
defaults of its own that the user's options override key by key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from nao.errors import ConfigError
from nao.validation import shown, shown_key
from search_spaces.base import SearchSpace

from ..options import deep_merge
from .base import Strategy
from .evolution import RegularizedEvolution
from .nao_strategy import PRESETS, NAOStrategy
from .random_search import RandomSearch
from .rl import RLController
from .tpe import TPEStrategy

# constructor arguments that are not options: the loop's, and the registry's name for messages
NOT_OPTIONS = ("self", "space", "random_state", "label")


@dataclass(frozen=True)
class Registered:
    """A registry entry: the class, and the options it starts from (a preset; none for most)."""

    cls: type[Strategy]
    preset: dict = field(default_factory=dict)


STRATEGIES: dict[str, Registered] = {
    "nao": Registered(NAOStrategy),
    "nao-paper": Registered(NAOStrategy, PRESETS["paper"]),
    "random": Registered(RandomSearch),
    "rl": Registered(RLController),
    "evolution": Registered(RegularizedEvolution),
    "tpe": Registered(TPEStrategy),
}


def option_names(cls: type[Strategy]) -> list[str]:
    """The options a strategy class takes (``--set`` keys): its ``__init__`` parameters."""
    return [p for p in inspect.signature(cls.__init__).parameters if p not in NOT_OPTIONS]


def make_strategy(name: str, space: SearchSpace, random_state: int | None = None,
                  **options) -> Strategy:
    """Build a strategy by name; unknown names and options are a :class:`ConfigError`."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {shown(name)}; choose one of {', '.join(STRATEGIES)}")
    entry = STRATEGIES[name]
    accepted = set(option_names(entry.cls))
    unknown = set(options) - accepted
    if unknown:
        raise ConfigError(
            f"strategy {name!r} has no option {', '.join(shown_key(k) for k in sorted(unknown))}; "
            f"it takes {', '.join(sorted(accepted)) or 'none'}"
        )
    if "label" in inspect.signature(entry.cls.__init__).parameters:
        options = {**options, "label": name}  # messages name the entry, e.g. nao-paper
    return entry.cls(space, random_state=random_state, **deep_merge(entry.preset, options))


__all__ = ["Strategy", "STRATEGIES", "Registered", "make_strategy", "option_names", "NAOStrategy",
           "RandomSearch", "RLController", "RegularizedEvolution", "TPEStrategy"]
