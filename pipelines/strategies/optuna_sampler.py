"""NAO as an Optuna sampler: ``optuna.create_study(sampler=NAOSampler(seed=0))``.

Optuna users keep their study, storage, dashboard and pruners and swap only the sampler. Like
Optuna's own relative samplers (``BaseSampler``), it models jointly the parameters it can and
hands the rest to an independent sampler:

- The relative search space is the intersection of the parameters of the finished trials
  (Optuna's ``IntersectionSearchSpace``), restricted to categorical ones with at least two
  choices. Those are written as a :class:`~search_spaces.choices.Choices` space, one decision
  per parameter, and searched by a NAO strategy through ask/tell.
- Every other parameter (floats, integers, a categorical that appears in only some trials, and
  everything before the first trial finishes) goes to ``independent_sampler`` (default Optuna's
  ``RandomSampler`` with the same seed).

The sampler keeps no state of its own that the study does not: each call tells the strategy the
finished trials it has not seen yet, read from the study, so a study resumed from its storage (in
another process, with a new sampler) goes on from everything it holds. Failed and pruned trials
are not told; a minimized objective is told negated (NAO maximizes).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nao.errors import ConfigError
from search_spaces.choices import Assignment, Choices

from . import check_option_names, make_strategy

try:
    from optuna.distributions import BaseDistribution, CategoricalDistribution
    from optuna.samplers import BaseSampler, RandomSampler
    from optuna.search_space import IntersectionSearchSpace
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState
except ImportError as err:  # pragma: no cover - the optuna extra is not installed
    raise ImportError("NAOSampler needs Optuna: pip install 'nao[optuna]'") from err

if TYPE_CHECKING:
    from optuna.study import Study

    from .base import Strategy

# How often one trial asks the strategy again when every architecture it proposes is already
# finished or running, before the trial's parameters go to the independent sampler.
MAX_EMPTY_ASKS = 3


class NAOSampler(BaseSampler):
    """Optuna sampler whose categorical parameters are proposed by NAO (or another strategy).

    ``strategy`` is a strategy name of ``nao search --strategy`` (default ``"nao"``) and
    ``strategy_options`` its options, as ``--set`` would give them (e.g. ``{"n_init": 10}``).
    ``seed`` fixes the strategy and the independent sampler, so the same seed on the same
    study history proposes the same parameters.
    """

    def __init__(self, *, seed: int | None = None, strategy: str = "nao",
                 strategy_options: dict | None = None,
                 independent_sampler: BaseSampler | None = None):
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._strategy_name = strategy
        self._strategy_options = dict(strategy_options or {})
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace(include_pruned=False)
        self._space: Choices | None = None
        self._signature: tuple | None = None
        self._strategy: Strategy | None = None
        self._told: set[int] = set()  # trial numbers told to the strategy
        self._queue: list[Assignment] = []  # asked, not yet handed to a trial
        # fail now, not at the first relative trial: unknown names and bad options
        check_option_names(strategy, self._strategy_options)  # random_state=... too
        if self._strategy_options.get("transfer"):
            raise ConfigError(
                f"NAOSampler: strategy option transfer={self._strategy_options['transfer']!r} "
                "cannot apply: a study's architectures are its categorical parameters, not the "
                "tokens of a table's space; drop transfer (nao search --set transfer=... takes "
                "it on a table's space)")
        make_strategy(strategy, Choices({"check": [0, 1]}), random_state=0,
                      **self._strategy_options)

    # ----- Optuna's sampler interface ----------------------------------------------------------
    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(self, study: Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {name: dist for name, dist in self._search_space.calculate(study).items()
                if isinstance(dist, CategoricalDistribution) and len(dist.choices) > 1}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        if len(study.directions) > 1:
            raise ConfigError("NAOSampler searches single-objective studies; this one has "
                              f"{len(study.directions)} objectives")
        names = sorted(search_space)
        self._prepare(names, [search_space[n] for n in names])
        taken = self._sync(study, names, search_space)
        arch = self._next(taken)
        if arch is None:
            return {}
        return {name: search_space[name].choices[arch[name]] for name in names}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._independent_sampler.sample_independent(study, trial, param_name,
                                                             param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)

    # ----- the strategy behind it ----------------------------------------------------------------
    def _prepare(self, names: list[str], dists: list[CategoricalDistribution]) -> None:
        """A new strategy whenever the joint parameters change (a new study, a new parameter)."""
        signature = tuple((n, tuple(map(repr, d.choices))) for n, d in zip(names, dists,
                                                                             strict=True))
        if signature == self._signature:
            return
        # choices are written by index: a parameter's values may be any of Optuna's types
        self._space = Choices({n: list(range(len(d.choices))) for n, d in zip(names, dists,
                                                                             strict=True)},
                              name="optuna")
        self._strategy = make_strategy(self._strategy_name, self._space,
                                       random_state=int(self._rng.integers(2**31 - 1)),
                                       **self._strategy_options)
        self._signature, self._told, self._queue = signature, set(), []

    def _arch_of(self, trial: FrozenTrial, names: list[str],
                 search_space: dict[str, BaseDistribution]) -> Assignment | None:
        """The trial's choices as an architecture; ``None`` if it lacks one of the parameters
        or holds a value outside the current choices."""
        indices = {}
        for name in names:
            if name not in trial.params:
                return None
            choices = search_space[name].choices
            value = trial.params[name]
            matches = [i for i, c in enumerate(choices) if type(c) is type(value) and c == value]
            if not matches:
                return None
            indices[name] = matches[0]
        return self._space.assignment(indices)

    def _sync(self, study: Study, names: list[str],
              search_space: dict[str, BaseDistribution]) -> set[Hashable]:
        """Tell the strategy every finished trial it has not seen; the canonical keys of the
        finished and running trials, which must not be proposed again."""
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        archs, scores, taken = [], [], set()
        for t in study.get_trials(deepcopy=False):
            arch = self._arch_of(t, names, search_space)
            if arch is None:
                continue
            if t.state in (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE):
                taken.add(self._space.canonical(arch))
            if t.state == TrialState.COMPLETE and t.number not in self._told \
                    and t.value is not None and np.isfinite(t.value):
                self._told.add(t.number)
                archs.append(arch)
                scores.append(sign * float(t.value))
        if archs:
            self._strategy.tell(archs, scores)
        return taken

    def _next(self, taken: set[Hashable]) -> Assignment | None:
        for _ in range(MAX_EMPTY_ASKS):
            while self._queue:
                arch = self._queue.pop(0)
                if self._space.canonical(arch) not in taken:
                    return arch
            self._queue = list(self._strategy.ask(max(1, self._strategy.ask_size)))
        return None


__all__ = ["NAOSampler"]
