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
