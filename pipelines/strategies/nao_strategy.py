"""NAO as a search strategy: the paper's Algorithm 1 as ask/tell.

Round 0 asks for ``n_init`` random architectures. Every later round fits the NAO estimator on
everything evaluated so far, takes the ``top_k`` best as seeds, and asks for the architectures
their improved embeddings decode to. When NAO cannot find enough new ones within its largest
step size, the round is filled with random samples (counted in ``n_random_fill``).
"""

from __future__ import annotations

import numpy as np

from nao.errors import ConfigError
from nao.estimator import NAO
from search_spaces.base import Arch, SearchSpace

from .base import Strategy

PRESETS: dict[str, dict] = {
    # The paper's choices scaled to small budgets: a third of the budget random, then rounds.
    "paper": {"n_init": 30, "round_size": 10, "top_k": 10},
}


class NAOStrategy(Strategy):
    """Seed -> optimize -> evaluate with an :class:`nao.NAO` estimator.

    ``nao_params`` go to the estimator (epochs, hidden_size, ...). ``warm_start`` keeps the
    networks between rounds and continues training them, as the authors' code does.
    """

    def __init__(self, space: SearchSpace, random_state: int | None = None, n_init: int = 30,
                 round_size: int = 10, top_k: int = 10, warm_start: bool = False,
                 nao_params: dict | None = None):
        super().__init__(space, random_state)
        if n_init < 2:
            raise ConfigError("nao strategy: n_init must be at least 2 (NAO needs data to fit)")
        if round_size < 1 or top_k < 1:
            raise ConfigError("nao strategy: round_size and top_k must be at least 1")
        self.n_init = n_init
        self.round_size = round_size
        self.top_k = top_k
        self.warm_start = warm_start
        self.nao_params = dict(nao_params or {})
        self.model: NAO | None = None
        self.n_random_fill = 0
        self.rounds = 0

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return self.n_init - len(self.archs) if len(self.archs) < self.n_init else self.round_size

    def _fit(self) -> NAO:
        seed = int(self.rng.integers(2**31 - 1))
        self.model = NAO(self.space, random_state=seed, **self.nao_params)
        return self.model.fit(self.archs, self.scores)

    def ask(self, n: int) -> list[Arch]:
        if len(self.archs) < self.n_init:
            return self.sample_unseen(n)
        model = self._fit()
        self.rounds += 1
        order = np.argsort(-np.asarray(self.scores), kind="stable")
        seeds = [self.archs[i] for i in order[: self.top_k]]
        proposals = model.propose(seeds, n, exclude=self.seen)
        if len(proposals) < n:
            keys = {self.space.canonical(a) for a in proposals}
            fill = self.sample_unseen(n - len(proposals), exclude=keys)
            self.n_random_fill += len(fill)
            proposals += fill
        return proposals
