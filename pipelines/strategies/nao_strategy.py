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
from nao.metrics import best_first
from nao.validation import check_bool, check_choice, check_float, check_int, check_options
from search_spaces import Tabular, get_space, require
from search_spaces.base import Arch, SearchSpace

from ..options import deep_merge
from .base import Strategy, epoch_status, json_value

# The defaults below were chosen on the development datasets cora, citeseer and pubmed
# (docs/results.md, "Levers for NAO"): a pairwise rank loss beside MSE in the predictor (only the
# order picks), 20 mutations of the seeds ranked beside the embedding-step proposals (BANANAS),
# encoder and decoder pre-trained on 1000 unevaluated architectures (arch2vec, SemiNAS),
# warm_patience 10 (a continued fit needs few epochs), and 5 decoded candidates per wanted one.
# With 20 mutations and 5 candidates NAO is ahead of every other strategy in all 9 development
# cells at 50-200 queries (20 seeds) and in 12 of the 18 held-out cells (level in 1), against 9
# with 10 mutations. n_init 10 (steering from the 11th query, not the paper's 30): ahead in 28
# of the 36 cells at 25-200 queries on all nine datasets, against 22 with 30, which is random
# search at 25 queries. top_k 5 (the five best evaluated architectures seed the embedding
# steps and the mutations, not twenty): ahead of every other strategy in 31 of the 36 cells
# against 28 with twenty, higher at 50 and 100 queries in 17 of 18 cells, a little lower at 200
# on four held-out tables. The paper preset is NAO as published: every
# decoded architecture evaluated, min-max targets, MSE only, the paper's layer sizes.
# ``predict_symmetries`` 1: candidates are ranked by their own sequence; averaging over
# equivalent ones (the estimator's default) was level with it in search (lever rmpm20c5t of
# benchmarks/nao_levers.py) and worse in median rank at 50 queries.
DEFAULT_NAO_PARAMS: dict = {"embedding_size": 32, "hidden_size": 64, "mlp_hidden_size": 100,
                            "target_transform": "rank", "warm_patience": 10,
                            "rank_loss_weight": 1.0, "predict_symmetries": 1}
# the levers' off settings (no mutations, no pre-training, 3 candidates per wanted one, no rank
# loss), for the paper preset and NAO-WS
LEVERS_OFF: dict = {"mutation_candidates": 0, "pretrain_archs": 0, "candidate_factor": 3.0,
                    "nao_params": {"rank_loss_weight": 0.0}}
PRESETS: dict[str, dict] = {
    "paper": deep_merge(LEVERS_OFF, {
        "n_init": 30, "round_size": 10, "top_k": 10, "warm_start": True, "candidate_factor": 1.0,
        "nao_params": {"embedding_size": 48, "hidden_size": 96, "mlp_hidden_size": 200,
                       "target_transform": "minmax", "warm_patience": None}}),
}
FIT_ON = ("all", "latest")
ACQUISITIONS = ("mean", "ucb", "thompson")
MUTATION_TRIES = 10  # tries per wanted mutation before giving up on new ones (small spaces)
MAX_CANDIDATE_FACTOR = 100.0  # decoding more candidates than this per wanted one is all waste
MAX_MODELS = 100
# pseudo_labels, pretrain_archs and random_candidates are random architectures drawn by
# Strategy.sample_unseen, which takes at most this many samples (SearchSpace.sample_distinct's
# max_tries): more could never be had, and fitting on thousands already takes minutes a round
MAX_DRAWN = 10_000
DRAWN_WHY = f"they are drawn from at most {MAX_DRAWN:,} random samples, so more cannot be had"
MAX_MUTATIONS = 10_000  # every round draws and ranks them all; the default is 20
MUTATIONS_WHY = "every round draws and ranks them all with the predictor (the default is 20)"
# pseudo-labels beyond this many times the budget: a warning of what they cost. A round fits
# on the evaluated ones, then again on those and the pseudo-labels: about 2 + pseudo / budget
# times a plain round's training (300 at --budget 100 measured 4.6 times, docs/results.md)
SLOW_PSEUDO_LABELS = 5
# what nao_params may set: every estimator parameter but the two this strategy sets itself
NAO_OPTIONS = tuple(p for p in NAO._PARAMS if p not in ("warm_start", "random_state"))


class NAOStrategy(Strategy):
    """Seed -> optimize -> evaluate with an :class:`nao.NAO` estimator.

    ``nao_params`` go to the estimator (epochs, hidden_size, ...) on top of
    ``DEFAULT_NAO_PARAMS``. ``warm_start`` keeps the
    networks between rounds and continues training them, as the authors' code does.
    ``candidate_factor`` > 1 decodes that many times more new architectures than are asked
    for and keeps those the predictor ranks highest (1 = the paper: every decoded one).
    ``random_candidates`` adds that many unseen random architectures to the candidates the
    predictor ranks, so a round can also jump to a region no seed is near.
    ``n_models`` > 1 fits an ensemble of NAO models (different seeds): each decodes candidates
    and the ensemble's mean prediction ranks them. ``pseudo_labels`` > 0 is SemiNAS (Luo et al.
    2020): after fitting, that many unevaluated random architectures are labelled by the
    predictor and the models are trained again on real and pseudo labels together.
    ``fit_on="latest"`` fits NAO and picks seeds on the architectures of the most recent
    :meth:`tell` only (with their scores there) instead of on everything told (``"all"``): under
    weight sharing, scores drift as the shared weights train, so the loop re-scores its pool and
    tells it whole each round, and NAO-WS fits on the current pool.

    Levers from the literature (docs/results.md measures each; ``LEVERS_OFF`` turns them off):
    ``top_k_ramp`` > 0 seeds a round with one of the best per that many evaluated architectures,
    from one up to ``top_k`` (:meth:`n_seeds`).
    ``mutation_candidates`` adds that many unseen mutations of the seeds to the
    candidates the predictor ranks (BANANAS: local moves beside the embedding step).
    ``acquisition`` ranks the candidates by the ensemble's ``mean`` prediction, by ``ucb``
    (mean + ``ucb_kappa`` * spread over the ``n_models`` members) or by ``thompson`` (each pick
    takes the best remaining candidate of one randomly drawn member); the last two need
    ``n_models`` > 1. ``pretrain_archs`` > 0 trains each model's encoder and decoder on that
    many unevaluated random architectures (reconstruction only, ``pretrain_epochs``) before the
    first fit (arch2vec, SemiNAS); warm start carries the pre-trained networks on, a cold
    refit starts without them.

    Transfer (``transfer``: names of other tables over the same tokens, e.g. the other
    NAS-Bench-Graph datasets): before the first fit, each model is fitted for
    ``transfer_epochs`` on ``transfer_archs`` random architectures of each of those tables,
    scored by their rank within their own table, and the fits on this search's architectures
    continue from there (warm start). It uses measurements this search did not pay for, so a
    benchmark reports it under its own label, never as ``nao``.
    """

    def __init__(self, space: SearchSpace, random_state: int | None = None, n_init: int = 10,
                 round_size: int = 10, top_k: int = 5, top_k_ramp: int = 0,
                 warm_start: bool = True,
                 candidate_factor: float = 5.0, random_candidates: int = 0,
                 nao_params: dict | None = None, fit_on: str = "all", n_models: int = 1,
                 pseudo_labels: int = 0, mutation_candidates: int = 20,
                 acquisition: str = "mean", ucb_kappa: float = 1.0, pretrain_archs: int = 1000,
                 pretrain_epochs: int = 20, transfer: list[str] | str | None = None,
                 transfer_archs: int = 500, transfer_epochs: int = 20, *,
                 label: str = "nao"):
        super().__init__(space, random_state)
        self.label = label  # the registry name messages use (nao-paper for the preset)
        owner = f"{label} strategy"
        self.n_init = check_int(owner, "n_init", n_init, 2)  # NAO needs data to fit
        self.round_size = check_int(owner, "round_size", round_size, 1)
        self.top_k = check_int(owner, "top_k", top_k, 1)
        self.top_k_ramp = check_int(owner, "top_k_ramp", top_k_ramp, 0)
        self.warm_start = check_bool(owner, "warm_start", warm_start)
        self.candidate_factor = check_float(owner, "candidate_factor", candidate_factor, 1,
                                            MAX_CANDIDATE_FACTOR)
        self.random_candidates = check_int(owner, "random_candidates", random_candidates, 0,
                                           MAX_DRAWN, why=DRAWN_WHY)
        self.fit_on = check_choice(owner, "fit_on", fit_on, FIT_ON)
        self.n_models = check_int(owner, "n_models", n_models, 1, MAX_MODELS)
        self.pseudo_labels = check_int(owner, "pseudo_labels", pseudo_labels, 0, MAX_DRAWN,
                                       why=DRAWN_WHY)
        self.mutation_candidates = check_int(owner, "mutation_candidates", mutation_candidates,
                                             0, MAX_MUTATIONS, why=MUTATIONS_WHY)
        self.acquisition = check_choice(owner, "acquisition", acquisition, ACQUISITIONS)
        if self.acquisition != "mean" and self.n_models == 1:
            raise ConfigError(f"{owner}: acquisition {self.acquisition} needs the spread of an "
                              "ensemble; set n_models to 2 or more, or use acquisition mean")
        self.ucb_kappa = check_float(owner, "ucb_kappa", ucb_kappa, 0)
        self.pretrain_archs = check_int(owner, "pretrain_archs", pretrain_archs, 0, MAX_DRAWN,
                                        why=DRAWN_WHY)
        self.pretrain_epochs = check_int(owner, "pretrain_epochs", pretrain_epochs, 1)
        self.transfer = self._sources(owner, transfer)
        self.transfer_archs = check_int(owner, "transfer_archs", transfer_archs, 2, MAX_DRAWN,
                                        why=DRAWN_WHY)
        self.transfer_epochs = check_int(owner, "transfer_epochs", transfer_epochs, 1)
        if self.transfer and not self.warm_start:
            raise ConfigError(f"{owner}: transfer needs warm_start true (later fits continue "
                              "from the transferred networks); drop transfer or warm_start")
        check_options(owner, "nao_params", nao_params, NAO_OPTIONS, optional=True)
        self.nao_params = {**DEFAULT_NAO_PARAMS, **(nao_params or {})}
        # the estimator's own check, now rather than at the first fit after n_init evaluations
        self._checked = NAO(space, warm_start=self.warm_start, **self.nao_params)
        self._checked._validate_params(owner, prefix="nao_params.")
        self.models: list[NAO] = []
        self.n_last_told = 0
        self.n_random_fill = 0
        self.rounds = 0

    def _sources(self, owner: str, transfer) -> tuple[SearchSpace, ...]:
        """The tables to transfer from: each a table over this space's tokens, not this one."""
        if transfer is None:
            names = []
        elif isinstance(transfer, list | tuple):
            names = list(transfer)
        else:
            names = [transfer]  # one name, or a number refused below
        if not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{owner}: transfer must be space names, e.g. "
                              '["nasbench-graph:citeseer", "nasbench-graph:pubmed"]')
        sources = []
        for name in names:
            try:
                source = get_space(name)
            except ConfigError as err:
                raise ConfigError(f"{owner}: transfer must be names of other tables of the same "
                                  f"space (e.g. nasbench-graph:citeseer): {err}") from None
            require(source, Tabular, f"{owner}'s transfer")
            if source.name == self.space.name:
                raise ConfigError(f"{owner}: transfer from {source.name}, the space searched, "
                                  "would read the answers; name other tables")
            if source.vocab != self.space.vocab or source.length != self.space.length:
                raise ConfigError(f"{owner}: transfer from {source.name}: its architectures "
                                  f"are not written in the tokens of {self.space.name}; name "
                                  "tables of the same space (e.g. other nasbench-graph datasets)")
            sources.append(source)
        return tuple(sources)

    def _transfer_set(self) -> tuple[list[Arch], list[float]]:
        """``transfer_archs`` random architectures of each source, scored by their rank (0-1,
        ties sharing their mid-rank) within their own sample, so tables of different accuracy
        levels are on one scale."""
        archs: list[Arch] = []
        scores: list[float] = []
        for source in self.transfer:
            drawn = source.sample_distinct(self.transfer_archs, self.rng)
            valid = np.array([source.lookup(a).valid for a in drawn])
            ordered = np.sort(valid)
            mid = (np.searchsorted(ordered, valid, "left")
                   + np.searchsorted(ordered, valid, "right") - 1) / 2
            archs += drawn
            scores += list(mid / max(len(valid) - 1, 1))
        return archs, scores

    def warnings(self, budget: int | None = None) -> list[str]:
        """Valid options that make the search other than it looks: a budget that never gets
        past the random ``n_init``, and settings that make NAO's training slow."""
        if budget is not None and budget <= self.n_init:  # the rest is moot then
            return [f"--budget {budget} is not more than n_init={self.n_init}, so NAO never "
                    f"runs: all {budget} architectures are random samples (a random search); "
                    f"raise --budget above {self.n_init} or lower n_init (--set n_init=N, at "
                    "least 2)"]
        out = []
        if budget is not None and self.pseudo_labels > SLOW_PSEUDO_LABELS * budget:
            times = round(2 + self.pseudo_labels / budget)
            out.append(f"pseudo_labels={self.pseudo_labels}: every round fits NAO a second "
                       f"time, on {self.pseudo_labels:,} unevaluated architectures besides the "
                       f"at most {budget} evaluated, about {times} times the training of a "
                       "search without them; lower pseudo_labels for a faster search")
        return out + self._checked.slow_settings("nao_params.")

    def settings(self) -> dict:
        """The options, with ``nao_params`` in full: the estimator's own defaults under
        ``DEFAULT_NAO_PARAMS`` and the user's, so a change of either is a change of settings."""
        params = self._checked.get_params()
        return {**super().settings(),
                "nao_params": json_value({k: params[k] for k in NAO_OPTIONS})}

    @property
    def model(self) -> NAO | None:
        """The first (with ``n_models=1`` the only) fitted estimator."""
        return self.models[0] if self.models else None

    @property
    def ask_size(self) -> int:  # type: ignore[override]
        return self.n_init - len(self.archs) if len(self.archs) < self.n_init else self.round_size

    def _fit(self) -> list[NAO]:
        seeds = [int(self.rng.integers(2**31 - 1)) for _ in range(self.n_models)]
        if not self.models or not self.warm_start:
            first = not self.models
            self.models = [NAO(self.space, random_state=seed, warm_start=self.warm_start,
                               **self.nao_params) for seed in seeds]
            if first and self.pretrain_archs:
                unlabelled = self.sample_unseen(self.pretrain_archs)
                for i, model in enumerate(self.models):
                    model.pretrain(unlabelled, self.pretrain_epochs, on_epoch=self._progress(
                        f"pre-training on {len(unlabelled)} unlabelled archs", i))
            if first and self.transfer:
                self._transfer_fit(seeds)
        archs, scores = self._training_set()
        for i, (model, seed) in enumerate(zip(self.models, seeds, strict=True)):
            model.random_state = seed
            model.fit(archs, scores, on_epoch=self._progress(f"fitting on {len(archs)} archs", i))
        if self.pseudo_labels:
            unlabelled = self.sample_unseen(self.pseudo_labels)
            pseudo = list(self._predict(unlabelled))
            for i, model in enumerate(self.models):
                model.fit(list(archs) + unlabelled, list(scores) + pseudo,
                          on_epoch=self._progress(f"fitting with {len(unlabelled)} pseudo-labels",
                                                  i))
        return self.models

    def _transfer_fit(self, seeds: list[int]) -> None:
        """Each model fitted on the other tables' architectures (see the class docstring)."""
        archs, scores = self._transfer_set()
        for i, (model, seed) in enumerate(zip(self.models, seeds, strict=True)):
            epochs = model.epochs
            model.set_params(epochs=self.transfer_epochs, random_state=seed)
            model.fit(archs, scores, on_epoch=self._progress(
                f"transfer from {len(self.transfer)} tables ({len(archs)} archs)", i))
            model.set_params(epochs=epochs)

    def _progress(self, doing: str, member: int):
        """The epoch hook that reports ``doing``, the member of the ensemble and the epoch."""
        of = f" (model {member + 1}/{self.n_models})" if self.n_models > 1 else ""
        return epoch_status(self.status, f"{doing}{of}")

    def _predict(self, archs: list[Arch]) -> np.ndarray:
        """Mean prediction of the ensemble."""
        return np.mean([m.predict(archs) for m in self.models], axis=0)

    def _pick(self, candidates: list[Arch], n: int) -> list[int]:
        """Indices of the ``n`` candidates the acquisition ranks highest."""
        if self.acquisition == "mean":
            return list(best_first(self._predict(candidates))[:n])
        member = np.array([m.predict(candidates) for m in self.models])
        if self.acquisition == "ucb":
            score = member.mean(axis=0) + self.ucb_kappa * member.std(axis=0)
            return list(best_first(score)[:n])
        picked: list[int] = []  # thompson: one member's belief per pick
        for _ in range(n):
            row = member[int(self.rng.integers(len(self.models)))].copy()
            row[picked] = -np.inf
            picked.append(int(np.argmax(row)))
        return picked

    def n_seeds(self) -> int:
        """How many of the best evaluated architectures seed this round: ``top_k``, or with
        ``top_k_ramp`` one per that many evaluated so far (at least one, at most ``top_k``):
        while few are known the predictor ranks poorly, and steps from the very best are what
        pays; more seeds later keep the search from narrowing too soon."""
        if not self.top_k_ramp:
            return self.top_k
        return max(1, min(self.top_k, len(self.archs) // self.top_k_ramp))

    def _mutations(self, seeds: list[Arch], exclude: set) -> list[Arch]:
        """``mutation_candidates`` unseen mutations of the seeds, the seeds taken in turn."""
        children = (self.space.mutate(seeds[i % len(seeds)], self.rng)
                    for i in range(self.mutation_candidates * MUTATION_TRIES))
        return self.space.distinct(children, self.mutation_candidates, exclude)

    def _training_set(self) -> tuple[list[Arch], list[float]]:
        if self.fit_on == "latest" and self.n_last_told:
            return self.archs[-self.n_last_told:], self.scores[-self.n_last_told:]
        return self.archs, self.scores

    def tell(self, archs, scores) -> None:
        super().tell(archs, scores)
        self.n_last_told = len(archs)

    def state_dict(self) -> dict:
        # warm-started networks carry over between rounds, so they are part of the state
        return {**super().state_dict(), "n_last_told": self.n_last_told,
                "rounds": self.rounds, "n_random_fill": self.n_random_fill,
                "models": [m.state_dict() for m in self.models if hasattr(m, "model_")]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.n_last_told = state.get("n_last_told", 0)
        self.rounds = state.get("rounds", 0)
        self.n_random_fill = state.get("n_random_fill", 0)
        self.models = [NAO.from_state_dict(blob, self.space) for blob in state.get("models", [])]

    def ask(self, n: int) -> list[Arch]:
        if len(self.archs) < self.n_init:
            return self.sample_unseen(n)
        models = self._fit()
        self.rounds += 1
        archs, scores = self._training_set()
        order = best_first(scores)
        seeds = [archs[i] for i in order[: self.n_seeds()]]
        wanted = int(round(n * self.candidate_factor))
        proposals: list[Arch] = []
        for model in models:
            keys = {self.space.canonical(a) for a in proposals}
            proposals += model.propose(seeds, -(-wanted // len(models)),
                                       exclude=self.seen | keys)
        if self.mutation_candidates:
            keys = {self.space.canonical(a) for a in proposals}
            proposals += self._mutations(seeds, self.seen | keys)
        if self.random_candidates:
            keys = {self.space.canonical(a) for a in proposals}
            proposals += self.sample_unseen(self.random_candidates, exclude=keys)
        if len(proposals) > n:
            keep = self._pick(proposals, n)
            proposals = [proposals[i] for i in sorted(keep)]
        if len(proposals) < n:
            keys = {self.space.canonical(a) for a in proposals}
            fill = self.sample_unseen(n - len(proposals), exclude=keys)
            self.n_random_fill += len(fill)
            proposals += fill
        return proposals

