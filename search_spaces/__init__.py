"""Search spaces: what can be built. One module per space, one registry line each."""

from __future__ import annotations

from collections.abc import Callable

from nao import plugins
from nao.errors import ConfigError
from nao.validation import shown

from .base import Arch, Buildable, BuildableLM, Capability, SearchSpace, Tabular, Tokens
from .choices import Assignment, Choices
from .tabular import Record, TabularBenchmark

_REGISTRY: dict[str, Callable[[str | None], SearchSpace]] = {}
_USAGE: dict[str, str] = {}
# the space of a command run without --space, and of the docs' examples: a table, so a search
# runs offline in seconds (the network commands, ws and train, default to a Buildable space)
DEFAULT_SPACE = "nasbench-graph:cora"


def register(family: str, factory: Callable[[str | None], SearchSpace],
             usage: str | None = None) -> None:
    """Add a space family; ``factory`` gets the part after ``family:`` (or ``None``);
    ``usage`` is how its name is written, options included, for the commands' ``--help``."""
    _REGISTRY[family] = factory
    _USAGE[family] = usage or family


def usage() -> str:
    """Every registered family as it is written on the command line, for ``--help``."""
    return "spaces: " + ", ".join(_USAGE.get(family, f"{family}[:...]")
                                  for family in available())


def _plugins() -> dict:
    """Families installed packages add (entry point group ``nao.spaces``) that no family
    registered here already uses: a built-in or a ``register()``ed name wins."""
    return {name: ep for name, ep in plugins.entry_points(plugins.SPACES).items()
            if name not in _REGISTRY}


def _from_plugin(ep, arg: str | None) -> SearchSpace:
    factory = plugins.load(plugins.SPACES, ep)
    space = plugins.call(plugins.SPACES, ep, factory, arg)
    if not isinstance(space, SearchSpace):
        raise plugins.failure(plugins.SPACES, ep, "to make a space",
                              TypeError(f"it returned {type(space).__name__}, not a SearchSpace"))
    return space


def _nasbench_graph(arg: str | None) -> SearchSpace:
    from .nasbench_graph import DATASETS, NasBenchGraphSpace

    if arg == "":
        raise ConfigError("nasbench-graph: needs a dataset after ':'; choose one of "
                          f"{', '.join(DATASETS)} (plain nasbench-graph means cora)")
    return NasBenchGraphSpace(arg or "cora")


register("nasbench-graph", _nasbench_graph, "nasbench-graph:DATASET")


def _enas_micro(arg: str | None) -> SearchSpace:
    from .enas_micro import EnasMicroSpace

    if arg is not None:
        raise ConfigError(f"enas-micro takes no option after ':' (got {shown(arg)}); use plain "
                          "enas-micro")
    return EnasMicroSpace()


register("enas-micro", _enas_micro)


def _nas_rl(arg: str | None) -> SearchSpace:
    from .nas_rl import parse_options

    return parse_options(arg)


register("nas-rl", _nas_rl, "nas-rl:layers=N")


def _enas_macro(arg: str | None) -> SearchSpace:
    from .enas_macro import EnasMacroSpace

    return EnasMacroSpace.from_options(arg)


register("enas-macro", _enas_macro, "enas-macro:layers=N,ops=a+b+c")


def _enas_rnn(arg: str | None) -> SearchSpace:
    from .enas_rnn import EnasRnnSpace, parse_options

    return EnasRnnSpace(parse_options(arg))


register("enas-rnn", _enas_rnn, "enas-rnn:nodes=N")


def _nao_cnn(arg: str | None) -> SearchSpace:
    from .nao_cnn import parse_options

    return parse_options(arg)


register("nao-cnn", _nao_cnn, "nao-cnn:nodes=N,channels=C,layers=L")


def _synthetic(arg: str | None) -> SearchSpace:
    from .synthetic import parse_options

    return parse_options(arg)


register("synthetic", _synthetic, "synthetic:positions=P,choices=C,seed=S,interactions=W")


def available() -> list[str]:
    """Every family's name: the bundled ones, ``register()``ed ones and installed plugins."""
    return sorted({*_REGISTRY, *_plugins()})


def offering(capability: type[Capability]) -> list[str]:
    """Names of the registered spaces (each family under its default name) that declare
    ``capability``; a family that needs an option after ':' is left out."""
    names = []
    for family in available():
        try:
            space = get_space(family)
        except ConfigError:
            continue
        if isinstance(space, capability):
            names.append(space.name)
    return names


def require(space: SearchSpace, capability: type[Capability], for_what: str) -> None:
    """The one check of a capability a command needs: a space without it is the one-line
    ConfigError naming the spaces that have it."""
    if not isinstance(space, capability):
        raise ConfigError(f"space {space.name} has no {capability.what}, which {for_what} "
                          f"needs; use one of: {', '.join(offering(capability)) or 'none'}")


def get_space(name: str) -> SearchSpace:
    """Space by its command-line name, e.g. ``nasbench-graph:cora``; a family's factory gets
    ``None`` without a ``:`` and the text after it otherwise (``""`` for a bare ``:``)."""
    family, sep, arg = str(name).partition(":")
    if family in _REGISTRY:
        return _REGISTRY[family](arg if sep else None)
    found = _plugins()
    if family in found:
        return _from_plugin(found[family], arg if sep else None)
    raise ConfigError(f"unknown search space {shown(name)}; choose one of {', '.join(available())}")


__all__ = ["DEFAULT_SPACE", "Arch", "SearchSpace", "Tokens", "Record", "TabularBenchmark",
           "Choices", "Assignment",
           "get_space", "register", "available", "Capability", "Tabular", "Buildable", "BuildableLM", "offering", "require"]
