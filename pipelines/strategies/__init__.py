"""Strategy registry: a name on the command line -> a class and the options it starts from.

A preset (``nao-paper``) is one more entry: the same class under another name, with option
defaults of its own that the user's options override key by key.

An entry names its class as ``"module:Class"`` and imports it on first use: the names can be
listed (``nao search --help``, ``--strategy`` choices) without importing torch (``rl``) or the
estimator, and a search imports only the strategy it runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nao import plugins
from nao.errors import ConfigError
from nao.validation import shown, shown_key
from search_spaces.base import SearchSpace

from ..options import deep_merge
from .base import NOT_OPTIONS, Strategy, option_parameters

if TYPE_CHECKING:
    from .evolution import RegularizedEvolution
    from .nao_strategy import NAOStrategy
    from .random_search import RandomSearch
    from .rl import RLController
    from .tpe import TPEStrategy

# constructor arguments that are not options: the loop's, and the registry's name for messages


@dataclass(frozen=True)
class Registered:
    """A registry entry: where the class is (``"module:Class"``, a module of this package), and
    the name of the preset it starts from in that module's ``PRESETS`` (none for most). A
    plugin's entry holds its entry point instead (group ``nao.strategies``)."""

    target: str
    preset_name: str | None = None
    plugin: importlib.metadata.EntryPoint | None = None

    @property
    def cls(self) -> type[Strategy]:
        """The class, its module imported on first use."""
        if self.plugin is not None:
            found = plugins.load(plugins.STRATEGIES, self.plugin)
            if not (isinstance(found, type) and issubclass(found, Strategy)):
                raise plugins.failure(plugins.STRATEGIES, self.plugin, "to give a strategy",
                                      TypeError(f"{self.target} is not a subclass of "
                                                "pipelines.strategies.Strategy"))
            return found
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)

    @property
    def preset(self) -> dict:
        """The options it starts from."""
        if self.preset_name is None:
            return {}
        module = importlib.import_module(self.cls.__module__)
        return module.PRESETS[self.preset_name]


class StrategyRegistry(Mapping):
    """Name -> :class:`Registered`: the bundled strategies, then the plugins installed packages
    add under names of their own (read from package metadata on each look, so a package on
    ``sys.path`` counts without a restart; a bundled name wins)."""

    def __init__(self, bundled: dict[str, Registered]):
        self.bundled = bundled

    def _all(self) -> dict[str, Registered]:
        found = {name: Registered(ep.value, plugin=ep)
                 for name, ep in plugins.entry_points(plugins.STRATEGIES).items()
                 if name not in self.bundled}
        return {**self.bundled, **found}

    def __getitem__(self, name: str) -> Registered:
        return self.bundled[name] if name in self.bundled else self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


# the module of every class the package exports, for ``from pipelines.strategies import ...``
CLASSES = {"NAOStrategy": "nao_strategy", "RandomSearch": "random_search", "RLController": "rl",
           "RegularizedEvolution": "evolution", "TPEStrategy": "tpe"}
STRATEGIES = StrategyRegistry({
    "nao": Registered("nao_strategy:NAOStrategy"),
    "nao-paper": Registered("nao_strategy:NAOStrategy", "paper"),
    "random": Registered("random_search:RandomSearch"),
    "rl": Registered("rl:RLController"),
    "evolution": Registered("evolution:RegularizedEvolution"),
    "tpe": Registered("tpe:TPEStrategy"),
})


def __getattr__(name: str):
    """A strategy class by its name (``from pipelines.strategies import NAOStrategy``),
    imported on first use."""
    if name in CLASSES:
        return getattr(importlib.import_module(f"{__name__}.{CLASSES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def option_names(cls: type[Strategy]) -> list[str]:
    """The options a strategy class takes (``--set`` keys): its named ``__init__`` parameters
    (a ``**options`` catch-all takes any others too: :func:`takes_any_option`)."""
    return list(option_parameters(cls))


def takes_any_option(cls: type[Strategy]) -> bool:
    """Whether ``__init__`` has a ``**options`` catch-all: the class checks its options itself
    (a plugin passing them on to a library, say)."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def check_option_names(name: str, options: dict) -> None:
    """An unknown strategy name or option (``space`` and ``random_state`` included) is a
    :class:`ConfigError`. A caller passing a user's options next to its own ``random_state=``
    checks them here first: Python refuses the repeated keyword before :func:`make_strategy`
    runs."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {shown(name)}; choose one of {', '.join(STRATEGIES)}")
    entry = STRATEGIES[name]
    cls = entry.cls
    accepted = set(option_names(cls))
    unknown = set(options) - accepted
    if takes_any_option(cls):  # its own checks decide, but not on what make_strategy passes
        unknown &= set(NOT_OPTIONS)
    if unknown:
        raise ConfigError(
            f"strategy {name!r} has no option {', '.join(shown_key(k) for k in sorted(unknown))}; "
            f"it takes {', '.join(sorted(accepted)) or 'none'}"
        )


def make_strategy(name: str, space: SearchSpace, /, random_state: int | None = None,
                  **options) -> Strategy:
    """Build a strategy by name; unknown names and options are a :class:`ConfigError`."""
    check_option_names(name, options)
    entry = STRATEGIES[name]
    cls = entry.cls
    if "label" in inspect.signature(cls.__init__).parameters:
        options = {**options, "label": name}  # messages name the entry, e.g. nao-paper
    options = deep_merge(entry.preset, options)
    if entry.plugin is not None:  # a bug in a plugin's constructor is one line naming it
        return plugins.call(plugins.STRATEGIES, entry.plugin, cls, space,
                            random_state=random_state, **options)
    return cls(space, random_state=random_state, **options)


__all__ = ["Strategy", "STRATEGIES", "Registered", "StrategyRegistry", "make_strategy", "option_names", "NAOStrategy",
           "RandomSearch", "RLController", "RegularizedEvolution", "TPEStrategy"]
