"""Predictor evaluation of an ensemble (``n_models``): the mean prediction of models of
different seeds, as the ``nao`` strategy's ``n_models`` ranks candidates."""

from __future__ import annotations

import numpy as np
import pytest

from nao import NAO
from nao.errors import ConfigError
from pipelines.search.predictor_eval import (
    evaluate_predictors,
    labelled_split,
    member_seed,
    ranking_scores,
)

FAST = {"epochs": 30, "patience": None, "max_symmetries": 2}


def test_an_ensemble_scores_the_mean_prediction_of_its_members(cora):
    train, y_train, test, y_test = labelled_split(cora, 20, 150, np.random.default_rng(4))
    members = [NAO(cora, random_state=member_seed(4, m), **FAST).fit(train, y_train)
               for m in range(3)]
    mean = np.mean([m.predict(test) for m in members], axis=0)
    ensemble = evaluate_predictors(cora, 20, 150, seed=4, nao_params=FAST, n_models=3)["nao"]
    single = evaluate_predictors(cora, 20, 150, seed=4, nao_params=FAST)["nao"]
    expected = ranking_scores(y_test, mean)
    for key, value in expected.items():
        assert ensemble[key] == pytest.approx(value)
    assert single["pairwise_accuracy"] == pytest.approx(
        ranking_scores(y_test, members[0].predict(test))["pairwise_accuracy"])
    assert ensemble["pairwise_accuracy"] != pytest.approx(single["pairwise_accuracy"])


def test_member_seeds_differ_and_the_first_is_the_seed():
    seeds = [member_seed(7, m) for m in range(5)]
    assert seeds[0] == 7 and len(set(seeds)) == 5


@pytest.mark.parametrize("value", [0, 101, 1.5])
def test_a_bad_n_models_is_named(cora, value):
    with pytest.raises(ConfigError, match="--n-models"):
        evaluate_predictors(cora, 20, 60, seed=0, nao_params=FAST, n_models=value)
