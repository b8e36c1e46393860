"""Regularized (aging) evolution (Real et al. 2019) as an ask/tell strategy.

A population of the ``population_size`` most recently told architectures starts random. Each child
comes from a tournament: ``sample_size`` members drawn at random without replacement, the best of
them is the parent, and the child is ``space.mutate(parent)``, valid by construction. When a child
is told it joins the population and the oldest member leaves, whatever its score; this aging is
what regularizes the search, since an architecture survives only by having good descendants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence

from nao.validation import check_int
from search_spaces.base import Arch, SearchSpace

from .base import Strategy

# The paper uses P=100, S=25 for a budget of 20,000 models; small tabular budgets need a smaller
# population to leave room for evolution, and S keeps the paper's ratio S = P / 4.
DEFAULT_POPULATION_SIZE = 20
DEFAULT_SAMPLE_SIZE = 5
DEFAULT_BATCH_SIZE = 1  # the paper's workers each take the population as it is now
MAX_MUTATION_TRIES = 100  # mutations per child before a random architecture stands in
MAX_MUTATION_TRIES_LIMIT = 100_000  # beyond it a crowded space would look like a hang


class RegularizedEvolution(Strategy):
    """Tournament selection, mutation, and removal of the oldest member."""

    def __init__(self, space: SearchSpace, random_state: int | None = None,
                 population_size: int = DEFAULT_POPULATION_SIZE,
                 sample_size: int = DEFAULT_SAMPLE_SIZE, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_mutation_tries: int = MAX_MUTATION_TRIES):
        super().__init__(space, random_state)
        owner = "evolution strategy"
        self.population_size = check_int(owner, "population_size", population_size, 1)
        self.sample_size = check_int(owner, "sample_size", sample_size, 1, self.population_size)
        self.ask_size = check_int(owner, "batch_size", batch_size, 1)
        self.max_mutation_tries = check_int(owner, "max_mutation_tries", max_mutation_tries, 1,
                                            MAX_MUTATION_TRIES_LIMIT)
        self.population: deque[tuple[Arch, float]] = deque()  # oldest on the left
        self.n_random_fill = 0

    def ask(self, n: int) -> list[Arch]:
        """Random members until the population is full, children of tournaments after that."""
        n_random = min(n, self.population_size - len(self.population)) if self.population else n
        out = self.sample_unseen(n_random)
        taken: set[Hashable] = {self.space.canonical(a) for a in out}
        for _ in range(n - n_random):
            child = self._child(taken)
            if child is None:
                fill = self.sample_unseen(1, exclude=taken)
                self.n_random_fill += len(fill)
                if not fill:
                    break
                child = fill[0]
            taken.add(self.space.canonical(child))
            out.append(child)
        return out

    def _child(self, taken: set[Hashable]) -> Arch | None:
        """A mutant of a tournament winner that is neither told nor already in this ask."""
        parent = self._tournament()
        children = (self.space.mutate(parent, self.rng) for _ in range(self.max_mutation_tries))
        found = self.space.distinct(children, 1, self.seen | taken)
        return found[0] if found else None

    def _tournament(self) -> Arch:
        picks = self.rng.choice(len(self.population), size=min(self.sample_size,
                                                                len(self.population)),
                                replace=False)
        best = max(picks, key=lambda i: self.population[i][1])  # first drawn wins ties
        return self.population[best][0]

    def tell(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        super().tell(archs, scores)
        for arch, score in zip(archs, scores, strict=True):
            self.population.append((arch, float(score)))
            if len(self.population) > self.population_size:
                self.population.popleft()

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["population"] = [(self.space.to_string(a), s) for a, s in self.population]
        state["n_random_fill"] = self.n_random_fill
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.population = deque((self.space.from_string(a), s) for a, s in state["population"])
        self.n_random_fill = state["n_random_fill"]
