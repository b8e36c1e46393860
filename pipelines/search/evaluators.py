"""Evaluators score architectures. The search loop calls them; strategies never do."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from search_spaces import require
from search_spaces.base import Arch, SearchSpace, Tabular


@dataclass(frozen=True)
class Evaluation:
    """``valid`` is what a search optimizes; ``test`` is reported, never searched on."""

    valid: float
    test: float | None = None
    info: dict = field(default_factory=dict)


class Evaluator(ABC):
    """Synchronous interface; a parallel evaluator overrides :meth:`evaluate_many`."""

    @abstractmethod
    def evaluate(self, arch: Arch) -> Evaluation:
        """Score one architecture."""

    def evaluate_many(self, archs: Sequence[Arch]) -> list[Evaluation]:
        return [self.evaluate(a) for a in archs]

    def task(self, arch: Arch) -> Callable[[], Evaluation]:
        """A picklable call that scores ``arch`` in another process (a local worker or a dask
        worker); an evaluator that holds much (a table, a network) sends a small job instead."""
        return partial(self.evaluate, arch)


class TableEvaluator(Evaluator):
    """Looks architectures up in the space's tabular benchmark."""

    def __init__(self, space: SearchSpace):
        require(space, Tabular, "a search scored by table lookup (nao search, nao benchmark)")
        self.space = space
        self.benchmark = space.benchmark

    def evaluate(self, arch: Arch) -> Evaluation:
        record = self.space.lookup(arch)
        return Evaluation(valid=record.valid, test=record.test)
