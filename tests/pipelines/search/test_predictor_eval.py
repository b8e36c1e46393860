"""Predictor evaluation scores every predictor on architectures it was not trained on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import run_cli

from nao.errors import ConfigError
from pipelines.search import predictor_eval
from pipelines.search.predictor_eval import (
    baseline_scores,
    check_sizes,
    evaluate_predictors,
    member_seed,
    one_hot,
    ranking_scores,
)
from search_spaces import get_space


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


# --- what is sampled, trained and scored, with a stand-in for NAO (quick) ---


class FakeNAO:
    """Records how it was made and trained; predicts a fixed function of the architecture
    (plus its seed), and reconstructs every architecture as the space's first sample."""

    made: list[FakeNAO] = []

    def __init__(self, space, random_state=None, **params):
        self.space, self.random_state, self.params = space, random_state, params
        self.pretrained = self.fitted = None
        if space is not None:  # not check_nao_params's instance
            FakeNAO.made.append(self)

    def _validate_params(self, owner):
        pass

    def pretrain(self, archs, epochs, on_epoch=None):
        self.pretrained = (list(archs), epochs)
        for done in range(1, epochs + 1):
            if on_epoch is not None:
                on_epoch(done, epochs)
        return self

    def fit(self, archs, y, on_epoch=None):
        self.fitted = (list(archs), np.array(y))
        if on_epoch is not None:
            on_epoch(1, 1)
        return self

    def predict(self, archs):
        return np.array([self.space.lookup(a).valid + self.random_state for a in archs])

    def reconstruct(self, archs):
        keep = len(archs) // 2  # the first half comes back whole
        first = self.space.sample(np.random.default_rng(0))
        return list(archs[:keep]) + [first] * (len(archs) - keep)


@pytest.fixture
def fake_nao(monkeypatch) -> list[FakeNAO]:
    FakeNAO.made = []
    monkeypatch.setattr(predictor_eval, "NAO", FakeNAO)
    return FakeNAO.made


def test_nao_is_trained_on_the_training_set_and_scored_on_the_distinct_test_set(cora, fake_nao):
    result = evaluate_predictors(cora, 12, 20, seed=4, nao_params={"epochs": 3})
    (model,) = fake_nao
    train, y_train = model.fitted
    assert model.random_state == 4 and model.params == {"epochs": 3}
    assert model.pretrained is None
    rng = np.random.default_rng(4)
    expected = predictor_eval.sample_distinct(cora, 32, rng)
    assert train == expected[:12]
    np.testing.assert_array_equal(y_train, [cora.lookup(a).valid for a in train])
    test = expected[12:]
    y_test = np.array([cora.lookup(a).valid for a in test])
    # the fake predicts the truth shifted by its seed: a perfect ranking
    assert result["nao"] == {"pairwise_accuracy": 1.0, "kendall_tau": pytest.approx(1.0),
                             "spearman": pytest.approx(1.0),
                             "reconstruction_accuracy": pytest.approx(
                                 reconstruction(cora, test)),
                             "train_reconstruction_accuracy": pytest.approx(
                                 reconstruction(cora, train))}
    assert len(set(map(cora.canonical, test)) | set(map(cora.canonical, train))) == 32
    assert "baselines" not in result
    assert len(y_test) == 20


def reconstruction(space, archs) -> float:
    from nao import metrics

    return metrics.reconstruction_accuracy([space.to_tokens(a) for a in archs],
                                           [space.to_tokens(a)
                                            for a in FakeNAO(space, 0).reconstruct(archs)])


def test_an_ensemble_scores_its_mean_prediction_and_reconstructs_with_its_first_model(
        cora, fake_nao, monkeypatch):
    scored = []
    real = predictor_eval.ranking_scores
    monkeypatch.setattr(predictor_eval, "ranking_scores",
                        lambda y, p: scored.append((np.array(y), np.array(p))) or real(y, p))
    evaluate_predictors(cora, 10, 15, seed=2, n_models=3)
    models = fake_nao[:3]
    assert [m.random_state for m in models] == [2, member_seed(2, 1), member_seed(2, 2)]
    ((y_test, mean),) = scored
    np.testing.assert_allclose(mean, y_test + np.mean([m.random_state for m in models]))


def test_pretraining_uses_further_architectures_distinct_from_both_sets(cora, fake_nao):
    evaluate_predictors(cora, 10, 15, seed=1, pretrain_archs=30, pretrain_epochs=7, n_models=2)
    first, second = fake_nao[:2]
    unlabelled, epochs = first.pretrained
    assert epochs == 7 and len(unlabelled) == 30
    assert second.pretrained == first.pretrained
    labelled = {cora.canonical(a) for a in predictor_eval.sample_distinct(
        cora, 25, np.random.default_rng(1))}
    assert len({cora.canonical(a) for a in unlabelled}) == 30
    assert not {cora.canonical(a) for a in unlabelled} & labelled
    assert first.fitted[0] == second.fitted[0]  # the same training set for every member


def test_member_seeds_are_the_seed_then_fixed_draws_from_the_seed_and_member():
    assert member_seed(5, 0) == 5
    assert (member_seed(5, 1), member_seed(5, 2)) == (1898245334, 1613061882)
    assert member_seed(6, 1) != member_seed(5, 1)


def test_without_a_status_nothing_is_told(cora, fake_nao):
    evaluate_predictors(cora, 5, 5, seed=0, pretrain_archs=5)
    assert predictor_eval.epoch_status(None, "anything") is None


def test_ranking_scores_are_the_three_metrics_of_truth_against_prediction():
    from nao import metrics

    y, p = np.array([0.1, 0.3, 0.2, 0.5]), np.array([1.0, 2.0, 4.0, 3.0])
    assert ranking_scores(y, p) == {"pairwise_accuracy": metrics.pairwise_accuracy(y, p),
                                    "kendall_tau": metrics.kendall_tau(y, p),
                                    "spearman": metrics.spearman(y, p)}
    assert ranking_scores(y, p)["pairwise_accuracy"] == 4 / 6


def test_one_hot_marks_each_positions_token(cora, cora_sample):
    archs = cora_sample[0][:3]
    x = one_hot(cora, archs)
    width = len(cora.vocab)
    assert x.shape == (3, cora.length * width)
    for row, arch in zip(x, archs, strict=True):
        assert row.sum() == cora.length
        assert list(np.flatnonzero(row)) == [i * width + t
                                             for i, t in enumerate(cora.to_tokens(arch))]


def test_the_baselines_are_the_documented_regressors():
    made = {name: make() for name, make in predictor_eval.baselines(7).items()}
    assert list(made) == ["random_forest", "gaussian_process", "knn", "gradient_boosting"]
    forest = made["random_forest"].get_params()
    assert (forest["n_estimators"], forest["random_state"]) == (200, 7)
    gp = made["gaussian_process"].get_params()
    assert (gp["normalize_y"], gp["n_restarts_optimizer"], gp["random_state"]) == (True, 2, 7)
    assert repr(gp["kernel"]) == "1**2 * RBF(length_scale=2) + WhiteKernel(noise_level=0.1)"
    kernel = gp["kernel"].get_params()
    assert tuple(kernel["k1__k1__constant_value_bounds"]) == (1e-3, 1e3)
    assert tuple(kernel["k1__k2__length_scale_bounds"]) == (0.5, 50.0)
    assert tuple(kernel["k2__noise_level_bounds"]) == (1e-4, 1.0)
    knn = made["knn"].get_params()
    assert (knn["n_neighbors"], knn["weights"]) == (5, "distance")
    boost = made["gradient_boosting"].get_params()
    assert (boost["learning_rate"], boost["max_iter"], boost["min_samples_leaf"],
            boost["random_state"]) == (0.05, 200, 5, 7)


@pytest.mark.parametrize(("sizes", "message"), [
    ((1, 5), "predictor evaluation: --train-size must be a whole number >= 2, got 1"),
    ((5, 1), "predictor evaluation: --test-size must be a whole number >= 2, got 1"),
    ((26206, 2), "--train-size 26206 + --test-size 2 = 26208 distinct architectures, but "
                 "nasbench-graph:cora holds 26,206; ask for 26,206 or fewer together"),
])
def test_impossible_set_sizes_are_refused_saying_why(cora, sizes, message):
    with pytest.raises(ConfigError) as err:
        check_sizes(cora, *sizes)
    assert str(err.value) == message


def test_the_sets_may_take_the_whole_table(cora):
    check_sizes(cora, 2, 2)
    check_sizes(cora, cora.size - 2, 2)


def test_a_space_without_a_table_is_refused_naming_the_command():
    with pytest.raises(ConfigError, match=r"has no table, which scoring predictors "
                       r"\(nao predictor-eval\) needs; use one of: "):
        check_sizes(get_space("nas-rl:layers=2"), 5, 5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: predictor_eval.check_n_models(0),
     "predictor evaluation: --n-models must be a whole number >= 1 and <= 100, got 0"),
    (lambda: predictor_eval.check_n_models(101),
     "predictor evaluation: --n-models must be a whole number >= 1 and <= 100, got 101"),
    (lambda: predictor_eval.check_nao_params({"random_state": 1}),
     "--set: the NAO estimator has no option random_state"),
    (lambda: predictor_eval.check_nao_params({"epochs": 0}),
     "NAO estimator: epochs must be a whole number >= 1, got 0"),
])
def test_bad_model_options_are_refused(call, message):
    with pytest.raises(ConfigError) as err:
        call()
    assert str(err.value).startswith(message)


def test_bad_options_are_refused_before_anything_is_sampled(cora, fake_nao, monkeypatch):
    monkeypatch.setattr(predictor_eval, "labelled_split", lambda *a: pytest.fail("sampled"))
    for kwargs, message in (({"pretrain_archs": -1}, "^predictor evaluation: --pretrain-archs "
                                                     "must be a whole number >= 0, got -1$"),
                            ({"n_models": 0}, "--n-models"),
                            ({"nao_params": {"bogus": 1}}, "has no option bogus")):
        with pytest.raises(ConfigError, match=message):
            evaluate_predictors(cora, 5, 5, seed=0, **kwargs)


def test_nao_options_come_back_as_a_copy():
    given = {"epochs": 3}
    checked = predictor_eval.check_nao_params(given)
    assert checked == given and checked is not given
    assert predictor_eval.check_nao_params(None) == {}
    predictor_eval.check_n_models(1)
    predictor_eval.check_n_models(100)


def test_a_space_too_small_for_the_sets_is_one_line(cora, monkeypatch):
    monkeypatch.setattr(type(cora), "sample_distinct", lambda self, n, rng, max_tries: [])
    with pytest.raises(ConfigError) as err:
        predictor_eval.sample_distinct(cora, 9, np.random.default_rng(0))
    assert str(err.value) == ("nasbench-graph:cora: could not sample 9 distinct architectures; "
                              "ask for fewer")


def test_summarize_gives_the_mean_and_spread_over_seeds():
    per_seed = [{"nao": {"a": 1.0, "b": 0.0}, "baselines": {"knn": {"a": 0.0}}},
                {"nao": {"a": 3.0, "b": 0.0}, "baselines": {"knn": {"a": 1.0}}}]
    assert predictor_eval.summarize(per_seed) == {
        "nao": {"a": 2.0, "a_std": 1.0, "b": 0.0, "b_std": 0.0},
        "baselines": {"knn": {"a": 0.5, "a_std": 0.5}}}
    assert predictor_eval.summarize([{"nao": {"a": 1.0}, "baselines": {"knn": {"a": 0.5}}}]) == {
        "nao": {"a": 1.0, "a_std": 0.0}, "baselines": {"knn": {"a": 0.5, "a_std": 0.0}}}


def test_the_status_names_each_model_and_epoch_then_the_baselines(cora, fake_nao, memoriser):
    said: list[str] = []
    result = evaluate_predictors(cora, 5, 5, seed=0, with_baselines=True, pretrain_archs=4,
                                 pretrain_epochs=2, n_models=2, status=said.append)
    held_out_memoriser_scores(result["baselines"]["memorise"])
    assert said == ["NAO pre-training on 4 archs (model 1/2), epoch 1/2",
                    "NAO pre-training on 4 archs (model 1/2), epoch 2/2",
                    "NAO fitting (model 1/2), epoch 1/1",
                    "NAO pre-training on 4 archs (model 2/2), epoch 1/2",
                    "NAO pre-training on 4 archs (model 2/2), epoch 2/2",
                    "NAO fitting (model 2/2), epoch 1/1",
                    "baselines"]
    said.clear()
    result = evaluate_predictors(cora, 5, 5, seed=0, status=said.append)
    assert said == ["NAO fitting, epoch 1/1"] and "baselines" not in result


def test_the_baselines_get_the_runs_seed(cora, fake_nao, monkeypatch):
    seeds = []
    monkeypatch.setattr(predictor_eval, "baselines", lambda seed: seeds.append(seed) or {})
    evaluate_predictors(cora, 5, 5, seed=9, with_baselines=True)
    assert seeds == [9]


def test_pretraining_runs_twenty_epochs_unless_told(cora, fake_nao):
    evaluate_predictors(cora, 5, 5, seed=0, pretrain_archs=4)
    assert fake_nao[0].pretrained[1] == 20


def test_the_smallest_sets_are_sampled(cora, fake_nao):
    evaluate_predictors(cora, 2, 2, seed=0)
    assert len(fake_nao[0].fitted[0]) == 2


def test_pretraining_can_take_every_architecture_the_sets_leave(fake_nao):
    space = get_space("synthetic:positions=5,choices=5,seed=0")
    evaluate_predictors(space, 2, 2, seed=0, pretrain_archs=space.size - 4)
    (model,) = fake_nao
    unlabelled = {space.canonical(a) for a in model.pretrained[0]}
    labelled = {space.canonical(a) for a in model.fitted[0]}
    assert len(unlabelled) == space.size - 4 and len(labelled) == 2
    assert not unlabelled & labelled


def test_more_pretraining_architectures_than_the_table_has_left_are_refused(fake_nao):
    space = get_space("synthetic:positions=2,choices=3,seed=0")
    evaluate_predictors(space, 2, 2, seed=0, pretrain_archs=5)  # all nine
    with pytest.raises(ConfigError) as err:
        evaluate_predictors(space, 2, 2, seed=0, pretrain_archs=6)
    assert str(err.value) == ("--pretrain-archs 6 must differ from the 4 training and test "
                              "architectures, but synthetic:positions=2,choices=3,seed=0 holds "
                              "9; ask for 5 or fewer")


def test_too_few_pretraining_architectures_found_is_one_line(cora, fake_nao, monkeypatch):
    monkeypatch.setattr(type(cora), "sample_distinct",
                        lambda self, n, rng, exclude=(), max_tries=0: [] if exclude else
                        [self.sample(np.random.default_rng(i)) for i in range(n)])
    with pytest.raises(ConfigError) as err:
        evaluate_predictors(cora, 2, 2, seed=0, pretrain_archs=3)
    assert str(err.value) == ("nasbench-graph:cora: could not sample 3 more distinct "
                              "architectures to pre-train on; ask for fewer")
