"""Predictor evaluation scores every predictor on architectures it was not trained on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import run_cli

from pipelines.search import predictor_eval
from pipelines.search.predictor_eval import baseline_scores, evaluate_predictors, one_hot


class Memoriser:
    """Perfect on what it was fitted on, no idea about anything else (a constant there)."""

    def __init__(self):
        self.asked: list[np.ndarray] = []

    def fit(self, x, y):
        self.known = {row.tobytes(): float(v) for row, v in zip(x, y, strict=True)}
        self.fallback = float(np.mean(y))
        return self

    def predict(self, x):
        self.asked.append(np.array(x))
        return np.array([self.known.get(row.tobytes(), self.fallback) for row in x])


@pytest.fixture
def memoriser(monkeypatch) -> list[Memoriser]:
    made: list[Memoriser] = []

    def make():
        made.append(Memoriser())
        return made[-1]

    monkeypatch.setattr(predictor_eval, "baselines", lambda seed: {"memorise": make})
    return made


def held_out_memoriser_scores(scores: dict) -> None:
    """A memoriser predicts one constant on held-out architectures: every pair a tie."""
    assert scores["pairwise_accuracy"] == 0.5
    assert math.isnan(scores["kendall_tau"])


def test_baselines_are_scored_on_the_held_out_architectures(cora, cora_sample, memoriser):
    archs, y = cora_sample
    train, test = archs[:30], archs[30:]
    scores = baseline_scores(cora, train, y[:30], test, y[30:], seed=0)["memorise"]
    (model,) = memoriser
    assert len(model.asked) == 1
    np.testing.assert_array_equal(model.asked[0], one_hot(cora, test))
    held_out_memoriser_scores(scores)


def test_predictor_eval_scores_baselines_on_its_test_set(cora, memoriser):
    result = evaluate_predictors(cora, 20, 40, seed=0, with_baselines=True,
                                 nao_params={"epochs": 2, "patience": None})
    (model,) = memoriser
    assert len(model.known) == 20 and len(model.asked[0]) == 40
    assert not {row.tobytes() for row in model.asked[0]} & set(model.known)
    held_out_memoriser_scores(result["baselines"]["memorise"])


def test_predictor_eval_says_what_it_trains_epoch_by_epoch(cora, capsys):
    said: list[str] = []
    evaluate_predictors(cora, 10, 20, seed=0, with_baselines=True,
                        nao_params={"epochs": 4, "patience": None, "max_symmetries": 1},
                        pretrain_archs=15, pretrain_epochs=2, n_models=2, status=said.append)
    assert said[:2] == ["NAO pre-training on 15 archs (model 1/2), epoch 1/2",
                        "NAO pre-training on 15 archs (model 1/2), epoch 2/2"]
    assert "NAO fitting (model 2/2), epoch 4/4" in said
    assert said[-1] == "baselines"
    code, _out, err = run_cli(capsys, "predictor-eval", "--train-size", "10", "--test-size",
                              "20", "--seeds", "2", "--seed", "5", "--set", "epochs=3")
    assert code == 0, err
    assert "seed 5: NAO fitting, epoch 1/3" in err and "seed 6: NAO fitting, epoch 1/3" in err
    assert "2/2" in err
