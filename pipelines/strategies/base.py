"""The ask/tell :class:`Strategy` interface (as in Optuna): the loop owns evaluation.

A strategy proposes architectures when asked and learns from the scores it is told. It never
evaluates anything itself, so the same strategy runs against a table, a trainer or a supernet.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from search_spaces.base import Arch, SearchSpace

NOT_OPTIONS = ("self", "space", "random_state", "label")  # what a strategy is built with, not how


def option_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The named ``__init__`` parameters of a strategy class that are options (``--set``
    keys), by name; a ``**options`` catch-all is not among them."""
    return {name: p for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in NOT_OPTIONS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def json_value(value: object) -> object:
    """``value`` as JSON holds it: spaces by name, tuples as lists, numpy scalars as numbers.
    Anything else is written as its ``repr``, which at worst makes two equal settings look
    different (a saved search is then run again, never wrongly reused)."""
    if isinstance(value, SearchSpace):
        return value.name
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


class Strategy(ABC):
    """Base of every search strategy.

    ``ask_size`` is how many architectures the strategy likes to be asked for at once (NAO's
    round size, the RL policy's batch); the loop asks for at most that many. It is not a
    training minibatch (NAO's ``nao_params.batch_size``): the ``batch_size`` option of the rl,
    random, evolution and tpe strategies sets ``ask_size`` and keeps its name, since users pass
    it with ``--set``. Subclasses keep all randomness in ``self.rng`` (seeded from
    ``random_state``) so a seed fixes the search.
    """

    ask_size: int = 1
    # what the strategy is doing while it works between evaluations (NAO training its model):
    # a caller that shows progress sets it; ``report`` calls it
    status: Callable[[str], None] | None = None

    def __init__(self, space: SearchSpace, random_state: int | None = None):
        self.space = space
        self.random_state = random_state
        self.rng = np.random.default_rng(random_state)
        self.archs: list[Arch] = []  # everything told, in order
        self.scores: list[float] = []
        self.seen: set[Hashable] = set()  # canonical keys of everything told

    @abstractmethod
    def ask(self, n: int) -> list[Arch]:
        """Up to ``n`` architectures to evaluate next."""

    def tell(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """Scores (higher is better) of architectures this strategy asked for."""
        if len(archs) != len(scores):
            raise ValueError(f"tell got {len(archs)} architectures but {len(scores)} scores")
        for arch, score in zip(archs, scores, strict=True):
            self.archs.append(arch)
            self.scores.append(float(score))
            self.seen.add(self.space.canonical(arch))

    def warnings(self, budget: int | None = None) -> list[str]:
        """Options that are valid but make the search other than it looks (or much slower),
        each a sentence saying what to change; ``budget`` is the search's when it has one. A
        command prints them as warnings before it starts. None by default."""
        return []

    def settings(self) -> dict:
        """Every option this strategy runs with, the defaults it was not given included, as JSON
        values. A saved search is reused only under the same settings, so one saved before a
        default changed is searched again instead of being reported as today's. Each option is
        read from the attribute of its name (``batch_size`` from :attr:`ask_size`), else taken as
        the signature's default; a subclass whose options hold more defaults (NAO's
        ``nao_params``) adds them."""
        out = {}
        for name, param in option_parameters(type(self)).items():
            if hasattr(self, name):
                value = getattr(self, name)
            elif name == "batch_size":
                value = self.ask_size
            elif param.default is not param.empty:
                value = param.default
            else:
                continue
            out[name] = json_value(value)
        return out

    def report(self, text: str) -> None:
        """Say what the strategy is doing now, to whoever set :attr:`status`."""
        if self.status is not None:
            self.status(text)

    def sample_unseen(self, n: int, exclude: set[Hashable] | None = None,
                      max_tries: int = 10000) -> list[Arch]:
        """``n`` random architectures not told yet and distinct from each other."""
        taken = self.seen | exclude if exclude else self.seen
        return self.space.sample_distinct(n, self.rng, taken, max_tries)

    def best(self) -> tuple[Arch, float]:
        i = int(np.argmax(self.scores))
        return self.archs[i], self.scores[i]

    def state_dict(self) -> dict:
        """What a strategy needs to be rebuilt; the history is what the base class keeps."""
        return {
            "archs": [self.space.to_string(a) for a in self.archs],
            "scores": list(self.scores),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.archs, self.scores, self.seen = [], [], set()
        # the base class's tell only records; a subclass's tell may also learn, which the
        # restored state already holds
        Strategy.tell(self, [self.space.from_string(s) for s in state["archs"]], state["scores"])
        self.rng.bit_generator.state = state["rng"]


def epoch_status(status: Callable[[str], None] | None, doing: str):
    """An ``on_epoch`` hook for ``NAO.fit`` / ``pretrain`` that tells ``status`` what is trained
    and the epoch (``None`` where nobody listens)."""
    if status is None:
        return None
    return lambda done, epochs: status(f"{doing}, epoch {done}/{epochs}")
