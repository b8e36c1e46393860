"""Strategy registry: a name on the command line -> a class."""

from __future__ import annotations

import inspect

from nao.errors import ConfigError
from nao.validation import shown, shown_key
from search_spaces.base import SearchSpace

from .base import Strategy
from .evolution import RegularizedEvolution
from .nao_strategy import NAOStrategy, PaperNAOStrategy
from .random_search import RandomSearch
from .rl import RLController
from .tpe import TPEStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "nao": NAOStrategy,
    "nao-paper": PaperNAOStrategy,
    "random": RandomSearch,
    "rl": RLController,
    "evolution": RegularizedEvolution,
    "tpe": TPEStrategy,
}


def make_strategy(name: str, space: SearchSpace, random_state: int | None = None,
                  **options) -> Strategy:
    """Build a strategy by name; unknown names and options are a :class:`ConfigError`."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {shown(name)}; choose one of {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    # a preset subclass (``**options``) takes the options of the first class that names them
    init = next(c.__init__ for c in cls.__mro__ if not any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(c.__init__).parameters.values()))
    accepted = set(inspect.signature(init).parameters) - {"self", "space", "random_state"}
    unknown = set(options) - accepted
    if unknown:
        raise ConfigError(
            f"strategy {name!r} has no option {', '.join(shown_key(k) for k in sorted(unknown))}; "
            f"it takes {', '.join(sorted(accepted)) or 'none'}"
        )
    return cls(space, random_state=random_state, **options)


__all__ = ["Strategy", "STRATEGIES", "make_strategy", "NAOStrategy", "PaperNAOStrategy", "RandomSearch", "RLController",
           "RegularizedEvolution"]
