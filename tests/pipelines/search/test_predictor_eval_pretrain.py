"""Predictor evaluation with the search's pre-training on unlabelled architectures."""

from __future__ import annotations

import pytest

from nao.errors import ConfigError
from pipelines.search.predictor_eval import evaluate_predictors

FAST = {"epochs": 60, "patience": None}


@pytest.mark.slow  # the effect, 400 architectures; the plain suite has the path (below) and the
# estimator's own pre-training effect (test_nao_levers)
def test_pretraining_on_unlabelled_architectures_raises_held_out_reconstruction(cora):
    plain = evaluate_predictors(cora, 20, 200, seed=0, nao_params=FAST)
    pre = evaluate_predictors(cora, 20, 200, seed=0, nao_params=FAST, pretrain_archs=400)
    assert pre["nao"]["reconstruction_accuracy"] > plain["nao"]["reconstruction_accuracy"] + 0.2


def test_pretraining_keeps_the_training_and_test_sets(cora):
    # the baselines see only the labelled sets: identical scores mean identical sets
    plain = evaluate_predictors(cora, 20, 60, seed=3, with_baselines=True,
                                nao_params={"epochs": 2, "patience": None})
    pre = evaluate_predictors(cora, 20, 60, seed=3, with_baselines=True,
                              nao_params={"epochs": 2, "patience": None}, pretrain_archs=30,
                              pretrain_epochs=1)
    assert pre["baselines"] == plain["baselines"]


def test_negative_pretrain_archs_is_a_config_error(cora):
    with pytest.raises(ConfigError, match="--pretrain-archs"):
        evaluate_predictors(cora, 20, 60, seed=0, pretrain_archs=-1)
