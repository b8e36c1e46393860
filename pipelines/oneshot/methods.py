"""The one-shot methods of ``nao ws``, in one table: what ``--controller`` offers.

Each entry says how the method searches (``family``: a controller proposing a *pool* that the
shared weights score, as ENAS and NAO-WS; or architecture parameters learnt by gradient through
the supernet, *relaxed*), what it needs of the space beyond a supernet (``needs``: a capability
the space declares, never a concrete space probed here), and which tasks it runs on. The
command line's choices and help, and the one-line refusals before any data loads, are read off
this table; it imports no torch, so ``nao ws --help`` stays fast. The search code behind a
family is :class:`.weight_sharing.WeightSharingSearch` (pool; image and text) and
:class:`.relaxed_search.RelaxedSearch` (relaxed).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def missing(self, space) -> list[str]:
        """The capabilities in ``needs`` that ``space`` does not declare."""
        return [need for need in self.needs if not getattr(space, need, False)]


METHODS: dict[str, OneShotMethod] = {m.name: m for m in (
    OneShotMethod("nao", POOL, "NAO-WS: the NAO estimator proposes the pool"),
    OneShotMethod("rl", POOL, "ENAS: a REINFORCE LSTM controller samples the pool"),
    OneShotMethod("random", POOL, "random pools (random search with shared weights)"),
    OneShotMethod("darts", RELAXED, "DARTS: softmax-mixed ops, alpha by gradient",
                  needs=(MIXED_PATH,), tasks=(IMAGE,), example="darts.order=2"),
    OneShotMethod("snas", RELAXED, "SNAS: Gumbel-softmax samples of the ops",
                  needs=(MIXED_PATH,), tasks=(IMAGE,), example="snas.tau_min="),
    OneShotMethod("sf", RELAXED, "score function (REINFORCE on alpha) with a baseline",
                  tasks=(IMAGE,), example="sf.baseline_decay="),
    OneShotMethod("relax", RELAXED, "RELAX: a learnt control variate",
                  tasks=(IMAGE,), example="relax.hidden="),
    OneShotMethod("ram", RELAXED, "RAM: discrete samples, one decision changed at a time",
                  tasks=(IMAGE,), example="ram.decisions="),
)}


def names(family: str | None = None) -> tuple[str, ...]:
    """Every method's name, or those of one family, in table order."""
    return tuple(n for n, m in METHODS.items() if family is None or m.family == family)


def help_text() -> str:
    """``--controller``'s help, one clause per method."""
    pool = ", ".join(names(POOL))
    relaxed = "; ".join(f"{m.name}: {m.summary} (--set {m.example})"
                        for m in METHODS.values() if m.family == RELAXED)
    return (f"what proposes architectures (default nao). Pool controllers ({pool}): "
            f"{'; '.join(f'{m.name}: {m.summary}' for m in METHODS.values() if m.family == POOL)}. "
            f"Gradient-based, image spaces ({', '.join(names(RELAXED))}; --set arch_lr=, "
            f"warmup_epochs=): {relaxed}")


def method_for(name: str, space, task: str) -> OneShotMethod:
    """The method ``name`` checked against ``space`` and the task (``image`` or ``text``): a
    one-line :class:`ConfigError` naming what is missing and what would run."""
    if name not in METHODS:
        raise ConfigError(f"unknown controller {shown(name)}; choose one of "
                          f"{', '.join(METHODS)}")
    method = METHODS[name]
    fits = ", ".join(m.name for m in METHODS.values() if task in m.tasks and not m.missing(space))
    if task not in method.tasks:
        raise ConfigError(f"--controller {name} runs {' and '.join(method.tasks)} supernets "
                          f"only (not {space.name}, a {task} space); use --controller {fits}")
    missing = method.missing(space)
    if missing:
        raise ConfigError(f"--controller {name} needs {CAPABILITY_WHAT[missing[0]]}, which "
                          f"space {space.name} does not have; use --space "
                          f"{' or '.join(spaces_with(missing[0]))} or --controller {fits}")
    return method


def spaces_with(capability: str) -> list[str]:
    """The registered spaces (default options) that declare ``capability``."""
    from search_spaces import Buildable, get_space, offering

    return [n for n in offering(Buildable) if getattr(get_space(n), capability, False)]
