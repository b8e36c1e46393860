"""``NAOSampler``, tested the way Optuna tests its own samplers: seeded reproducibility, a study
resumed from an ``RDBStorage``, the split between relative and independent parameters."""

from __future__ import annotations

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from nao.errors import ConfigError  # noqa: E402
from pipelines.strategies.optuna_sampler import NAOSampler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
# small and fast: no pre-training, a short random start, short fits
FAST = {"n_init": 8, "pretrain_archs": 0, "round_size": 8, "nao_params": {"epochs": 150}}
WEIGHTS = np.random.default_rng(0).normal(size=(5, 4))
LETTERS = ["a", "b", "c", "d"]


def additive(trial) -> float:
    """Five categorical parameters; the score is one weight per choice."""
    picks = [trial.suggest_categorical(f"x{i}", LETTERS) for i in range(5)]
    return float(sum(WEIGHTS[i, LETTERS.index(p)] for i, p in enumerate(picks)))


def sampler(seed: int = 0, **options) -> NAOSampler:
    return NAOSampler(seed=seed, strategy_options={**FAST, **options})


def params_of(study) -> list[dict]:
    return [t.params for t in study.trials]


def test_the_same_seed_proposes_the_same_trials():
    runs = []
    for _ in range(2):
        study = optuna.create_study(direction="maximize", sampler=sampler(3))
        study.optimize(additive, n_trials=18)
        runs.append(params_of(study))
    assert runs[0] == runs[1]
    other = optuna.create_study(direction="maximize", sampler=sampler(4))
    other.optimize(additive, n_trials=18)
    assert params_of(other) != runs[0]


def test_a_finished_combination_is_never_proposed_again():
    small = ["a", "b", "c", "d"]

    def objective(trial):
        return float(LETTERS.index(trial.suggest_categorical("p", small))
                     + 0.1 * LETTERS.index(trial.suggest_categorical("q", small)))

    study = optuna.create_study(direction="maximize", sampler=sampler(0))
    study.optimize(objective, n_trials=15)  # of 16 combinations
    combos = [(t.params["p"], t.params["q"]) for t in study.trials]
    # the first trial is Optuna's independent one, before any search space is known
    assert len(set(combos[1:])) == len(combos) - 1


def test_a_study_resumed_from_its_storage_goes_on_from_every_stored_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize",
                                sampler=sampler(0))
    study.optimize(additive, n_trials=12)
    first = params_of(study)
    del study
    # another process would do exactly this: load by name, with a new sampler
    resumed = optuna.load_study(study_name="s", storage=url, sampler=sampler(1))
    resumed.optimize(additive, n_trials=12)
    stored = optuna.load_study(study_name="s", storage=url)
    assert len(stored.trials) == 24
    assert params_of(stored)[:12] == first
    keys = [tuple(sorted(p.items())) for p in params_of(stored)]
    # the resumed sampler knew the stored trials: it proposed none of them again
    assert not set(keys[13:]) & set(keys[:12])
    assert len(set(keys[13:])) == 11


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_search_steers_towards_the_studys_direction(direction):
    study = optuna.create_study(direction=direction, sampler=sampler(0))
    study.optimize(additive, n_trials=40)
    steered = np.mean([t.value for t in study.trials[FAST["n_init"] + 8:]])
    rng = np.random.default_rng(0)
    random_mean = np.mean([sum(WEIGHTS[i, rng.integers(4)] for i in range(5))
                           for _ in range(4000)])
    sign = 1 if direction == "maximize" else -1
    # NAO's proposals, after its random start, are better on average than random ones
    assert sign * (steered - random_mean) > 0.5


class RecordingSampler(optuna.samplers.RandomSampler):
    def __init__(self, seed):
        super().__init__(seed=seed)
        self.asked: list[str] = []

    def sample_independent(self, study, trial, param_name, param_distribution):
        self.asked.append(param_name)
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_parameters_nao_cannot_model_go_to_the_independent_sampler():
    independent = RecordingSampler(seed=0)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        fixed = trial.suggest_categorical("fixed", ["only"])  # one choice: nothing to model
        return additive(trial) + lr + layers + len(fixed)

    study = optuna.create_study(direction="maximize",
                                sampler=NAOSampler(seed=0, strategy_options=FAST,
                                                   independent_sampler=independent))
    study.optimize(objective, n_trials=6)
    # trial 0 has no search space yet: all 7 parameters are independent (Optuna itself answers
    # a one-choice categorical); later trials only the float and the integer
    assert independent.asked[:7] == ["lr", "layers"] + [f"x{i}" for i in range(5)]
    assert independent.asked[7:] == ["lr", "layers"] * 5


def test_multi_objective_studies_and_unknown_strategies_are_refused():
    with pytest.raises(ConfigError, match="unknown strategy"):
        NAOSampler(strategy="annealing")
    with pytest.raises(ConfigError, match="has no option"):
        NAOSampler(strategy_options={"n_inti": 5})
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler(0))
    study.optimize(lambda t: (additive(t), additive(t)), n_trials=1)  # independent: fine
    with pytest.raises(ConfigError, match="single-objective"):
        study.optimize(lambda t: (additive(t), additive(t)), n_trials=1)


def test_failed_and_pruned_trials_are_not_told():
    calls = {"n": 0}

    def flaky(trial):
        value = additive(trial)
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise optuna.TrialPruned()
        if calls["n"] % 5 == 0:
            return float("nan")
        return value

    search = sampler(0)
    study = optuna.create_study(direction="maximize", sampler=search)
    study.optimize(flaky, n_trials=20)
    study.ask()  # a new trial reads the study: the strategy is told what has finished
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) < 20  # some were pruned or failed
    # NaN is a failed trial in Optuna; only the finite, complete ones teach NAO
    assert sorted(search._strategy.scores) == sorted(complete)


# ----- small, fast checks of the pieces: a handful of trials each, no NAO fit ----------------
CAT = optuna.distributions.CategoricalDistribution
PQ = {"p": CAT(["a", "b", "c"]), "q": CAT(["a", "b", "c"])}


def done(value, state=None, **params):
    """A finished trial holding ``params`` (each one of ``PQ``'s parameters)."""
    state = state or optuna.trial.TrialState.COMPLETE
    return optuna.trial.create_trial(
        state=state, value=value if state == optuna.trial.TrialState.COMPLETE else None,
        params=params, distributions={n: PQ[n] for n in params})


def ask_pq(study) -> tuple[str, str]:
    trial = study.ask()
    return trial.suggest_categorical("p", ["a", "b", "c"]), \
        trial.suggest_categorical("q", ["a", "b", "c"])


def test_a_seed_fixes_the_proposals_and_the_strategys_own_seed():
    runs, seeds = [], []
    for seed in (3, 3, 4):
        search = sampler(seed)
        study = optuna.create_study(direction="maximize", sampler=search)
        study.optimize(additive, n_trials=6)  # trial 0 independent, then NAO's random start
        runs.append(params_of(study))
        seeds.append(search._strategy.random_state)
    assert runs[0] == runs[1]
    assert runs[2] != runs[0]
    # the strategy's seed is drawn from the sampler's seed, a non-negative 31-bit integer
    assert seeds[0] == int(np.random.default_rng(3).integers(2**31 - 1)) == seeds[1]
    assert seeds[2] == int(np.random.default_rng(4).integers(2**31 - 1))


def test_the_relative_space_is_the_categoricals_with_choices_in_every_complete_trial():
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        value=1.0, params={"two": "x", "three": 2, "one": "only", "lr": 0.1},
        distributions={"two": CAT(["x", "y"]), "three": CAT([1, 2, 3]), "one": CAT(["only"]),
                       "lr": optuna.distributions.FloatDistribution(0.0, 1.0)}))
    # a pruned trial that stopped before "three" does not narrow the space
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, params={"two": "y"},
        distributions={"two": CAT(["x", "y"])}))
    search = sampler(0)
    space = search.infer_relative_search_space(study, study.trials[-1])
    assert sorted(space) == ["three", "two"]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_finished_trials_are_told_with_the_objective_turned_to_a_maximum(direction):
    search = sampler(0)
    study = optuna.create_study(direction=direction, sampler=search)
    study.add_trial(done(1.0, p="a", q="a"))
    # a trial that failed before suggesting q is skipped, not the end of the history
    study.add_trial(done(None, optuna.trial.TrialState.FAIL, p="b"))
    study.add_trial(done(2.5, p="b", q="c"))
    ask_pq(study)
    sign = 1.0 if direction == "maximize" else -1.0
    assert sorted(search._strategy.scores) == sorted([sign * 1.0, sign * 2.5])
    assert len(search._strategy.archs) == 2


def test_trials_running_in_another_worker_are_not_proposed_again():
    storage = optuna.storages.InMemoryStorage()
    one = optuna.create_study(study_name="w", storage=storage, direction="maximize",
                              sampler=sampler(0))
    one.add_trial(done(1.0, p="a", q="a"))
    two = optuna.load_study(study_name="w", storage=storage, sampler=sampler(0))
    asked = []
    for _ in range(3):  # the same seed: each worker alone would propose the same combinations
        asked.append(ask_pq(one))
        asked.append(ask_pq(two))
    assert ("a", "a") not in asked
    assert len(set(asked)) == len(asked) == 6


class PassThroughSampler(optuna.samplers.RandomSampler):
    def __init__(self, seed):
        super().__init__(seed=seed)
        self.calls: list[tuple] = []

    def before_trial(self, study, trial):
        self.calls.append(("before", study.study_name, trial.number))

    def sample_independent(self, study, trial, param_name, param_distribution):
        self.calls.append(("sample", study.study_name, trial.number, param_name))
        return super().sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self.calls.append(("after", study.study_name, trial.number, state, values))


def test_the_independent_sampler_sees_the_study_the_trial_and_its_outcome():
    independent = PassThroughSampler(seed=0)
    study = optuna.create_study(study_name="pass", direction="maximize",
                                sampler=NAOSampler(seed=0, strategy_options=FAST,
                                                   independent_sampler=independent))
    study.optimize(lambda t: t.suggest_float("lr", 0.0, 1.0), n_trials=2)
    lrs = [t.params["lr"] for t in study.trials]
    complete = optuna.trial.TrialState.COMPLETE
    assert independent.calls == [
        ("before", "pass", 0), ("sample", "pass", 0, "lr"), ("after", "pass", 0, complete, [lrs[0]]),
        ("before", "pass", 1), ("sample", "pass", 1, "lr"), ("after", "pass", 1, complete, [lrs[1]])]


def test_the_strategy_is_built_with_its_options_and_asked_for_its_own_batch_size():
    with pytest.raises(ConfigError, match="n_init"):  # bad values fail at construction
        NAOSampler(strategy_options={"n_init": 1})
    with pytest.raises(ConfigError, match="^NAOSampler: strategy option transfer="
                       "'nasbench-graph:citeseer' cannot apply: a study's architectures are "
                       "its categorical parameters"):
        NAOSampler(strategy_options={"transfer": "nasbench-graph:citeseer", "warm_start": True})
    search = NAOSampler(seed=0, strategy="random", strategy_options={"batch_size": 1})
    study = optuna.create_study(direction="maximize", sampler=search)
    study.optimize(additive, n_trials=2)
    asked = []
    ask = search._strategy.ask
    search._strategy.ask = lambda n: asked.append(n) or ask(n)
    study.optimize(additive, n_trials=3)
    assert asked == [1, 1, 1]
    nao = sampler(0)
    optuna.create_study(sampler=nao).optimize(additive, n_trials=2)
    assert nao._strategy.n_init == FAST["n_init"]


def test_a_reseeded_sampler_still_searches():
    search = sampler(0)
    search.reseed_rng()  # what Optuna does for n_jobs > 1
    study = optuna.create_study(direction="maximize", sampler=search)
    study.optimize(additive, n_trials=3)
    assert len(search._strategy.archs) == 2  # the relative trials ran: trials 0 and 1 were told
