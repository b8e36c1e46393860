"""The one-shot methods of ``nao ws``, in one table: what ``--controller`` offers.

Each entry says how the method searches (``family``: a controller proposing a *pool* that the
shared weights score, as ENAS and NAO-WS; or architecture parameters learnt by gradient through
the supernet, *relaxed*), what it needs of the space beyond a supernet (``needs``: a capability
the space declares, never a concrete space probed here), and which tasks it runs on. The
command line's choices and help, and the one-line refusals before any data loads, are read off
this table; it imports no torch, so ``nao ws --help`` stays fast. The search code behind a
family is :class:`.weight_sharing.WeightSharingSearch` (pool) and
:class:`.relaxed_search.RelaxedSearch` (relaxed), each with its text variant; the task carries
the difference (:mod:`.one_shot_tasks`).

A new method is one entry: a pool method names a strategy of
:data:`pipelines.strategies.STRATEGIES` (its own name), which proposes the pool; a relaxed method
names its :class:`.gradient_estimators.Estimator` (``"module:Class"``, imported when it runs).
Installed packages add entries under entry point group ``nao.oneshot`` (an
:class:`OneShotMethod` object; docs/plugins.md), listed beside these without a restart.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from nao import plugins
from nao.errors import ConfigError
from nao.validation import shown

POOL, RELAXED = "pool", "relaxed"
IMAGE, TEXT = "image", "text"
# capabilities a method may need; each is an attribute a space declares (search_spaces.base)
MIXED_PATH = "mixed_path"
CAPABILITY_WHAT = {MIXED_PATH: "a supernet with a mixed-op path (a forward on op weights)"}


@dataclass(frozen=True)
class OneShotMethod:
    """One ``--controller``: its name, how it searches, what it needs and a line of help."""

    name: str
    family: str  # POOL or RELAXED
    summary: str  # a few words for --help
    needs: tuple[str, ...] = ()  # space capabilities beyond a supernet
    tasks: tuple[str, ...] = (IMAGE, TEXT)
    example: str = ""  # a --set option of its own, for --help
    estimator: str | type | None = None  # RELAXED: its Estimator class, or "module:Class"

    def missing(self, space) -> list[str]:
        """The capabilities in ``needs`` that ``space`` does not declare."""
        return [need for need in self.needs if not getattr(space, need, False)]

    def estimator_class(self) -> type:
        """A relaxed method's :class:`.gradient_estimators.Estimator` class, imported now."""
        from .gradient_estimators import Estimator

        found = self.estimator
        if isinstance(found, str):
            module, _, name = found.partition(":")
            try:
                found = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"--controller {self.name}: its estimator {found!r} does not "
                                  f"import ({type(exc).__name__}: {exc})") from exc
        if not (isinstance(found, type) and issubclass(found, Estimator)):
            raise ConfigError(f"--controller {self.name} names no gradient estimator (got "
                              f"{found!r}); a relaxed method's entry needs estimator= a "
                              "subclass of pipelines.oneshot.gradient_estimators.Estimator")
        return found


def _estimator(name: str) -> str:
    return f"{__package__}.gradient_estimators:{name}"


BUNDLED: dict[str, OneShotMethod] = {m.name: m for m in (
    OneShotMethod("nao", POOL, "NAO-WS: the NAO estimator proposes the pool"),
    OneShotMethod("rl", POOL, "ENAS: a REINFORCE LSTM controller samples the pool"),
    OneShotMethod("random", POOL, "random pools (random search with shared weights)"),
    OneShotMethod("darts", RELAXED, "DARTS: softmax-mixed ops, alpha by gradient",
                  needs=(MIXED_PATH,), example="darts.order=2", estimator=_estimator("Darts")),
    OneShotMethod("snas", RELAXED, "SNAS: Gumbel-softmax samples of the ops",
                  needs=(MIXED_PATH,), example="snas.tau_min=", estimator=_estimator("Snas")),
    OneShotMethod("sf", RELAXED, "score function (REINFORCE on alpha) with a baseline",
                  example="sf.baseline_decay=", estimator=_estimator("ScoreFunction")),
    OneShotMethod("relax", RELAXED, "RELAX: a learnt control variate",
                  example="relax.hidden=", estimator=_estimator("Relax")),
    OneShotMethod("ram", RELAXED, "RAM: discrete samples, one decision changed at a time",
                  example="ram.decisions=", estimator=_estimator("Ram")),
)}


class MethodRegistry(Mapping):
    """Name -> :class:`OneShotMethod`: the bundled methods, then those installed packages add
    under group ``nao.oneshot`` (a bundled name wins; read on each look, as the strategies)."""

    def __init__(self, bundled: dict[str, OneShotMethod]):
        self.bundled = bundled

    def _plugins(self) -> dict:
        return {name: ep for name, ep in plugins.entry_points(plugins.ONESHOT).items()
                if name not in self.bundled}

    def __getitem__(self, name: str) -> OneShotMethod:
        if name in self.bundled:
            return self.bundled[name]
        ep = self._plugins()[name]
        found = plugins.load(plugins.ONESHOT, ep)
        if not isinstance(found, OneShotMethod) or found.name != name \
                or found.family not in (POOL, RELAXED):
            raise plugins.failure(plugins.ONESHOT, ep, "to give a one-shot method",
                                  TypeError(f"{ep.value} is not a OneShotMethod named {name!r} "
                                            f"of family {POOL!r} or {RELAXED!r}"))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter({**self.bundled, **self._plugins()})

    def __len__(self) -> int:
        return len({**self.bundled, **self._plugins()})


METHODS = MethodRegistry(BUNDLED)


def names(family: str | None = None) -> tuple[str, ...]:
    """Every bundled method's name, or those of one family, in table order (plugins' names:
    ``list(METHODS)``, which loads nothing)."""
    return tuple(n for n, m in BUNDLED.items() if family is None or m.family == family)


def help_text() -> str:
    """``--controller``'s help, one clause per method."""
    pool = ", ".join(names(POOL))
    relaxed = "; ".join(f"{m.name}: {m.summary} (--set {m.example})"
                        for m in BUNDLED.values() if m.family == RELAXED)
    installed = [n for n in METHODS if n not in BUNDLED]  # plugins: names only, nothing loaded
    return (f"what proposes architectures (default nao). Pool controllers ({pool}): "
            f"{'; '.join(f'{m.name}: {m.summary}' for m in BUNDLED.values() if m.family == POOL)}. "
            f"Gradient-based ({', '.join(names(RELAXED))}; --set arch_lr=, "
            f"warmup_epochs=): {relaxed}"
            + (f". Installed plugins: {', '.join(installed)}" if installed else ""))


def method_for(name: str, space, task: str) -> OneShotMethod:
    """The method ``name`` checked against ``space`` and the task (``image`` or ``text``): a
    one-line :class:`ConfigError` naming what is missing and what would run."""
    if name not in METHODS:
        raise ConfigError(f"unknown controller {shown(name)}; choose one of "
                          f"{', '.join(METHODS)}")
    method = METHODS[name]
    if task not in method.tasks:
        raise ConfigError(f"--controller {name} runs {' and '.join(method.tasks)} supernets "
                          f"only (not {space.name}, a {task} space); use --controller "
                          f"{fitting(space, task)}")
    missing = method.missing(space)
    if missing:
        raise ConfigError(f"--controller {name} needs {CAPABILITY_WHAT[missing[0]]}, which "
                          f"space {space.name} does not have; use --space "
                          f"{' or '.join(spaces_with(missing[0]))} or --controller "
                          f"{fitting(space, task)}")
    return method


def fitting(space, task: str) -> str:
    """The bundled methods that run on ``space`` for ``task``, for a refusal's advice."""
    return ", ".join(m.name for m in BUNDLED.values() if task in m.tasks and not m.missing(space))


def spaces_with(capability: str) -> list[str]:
    """The registered spaces with a supernet, image or text (default options), that declare
    ``capability``."""
    from search_spaces import Buildable, BuildableLM, get_space, offering

    supernets = dict.fromkeys([*offering(Buildable), *offering(BuildableLM)])
    return [n for n in supernets if getattr(get_space(n), capability, False)]
