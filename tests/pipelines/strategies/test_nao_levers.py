"""The levers of the NAO strategy and estimator (rank loss, mutations, pre-training, ...): each
changes what it should, is on by default only where docs/results.md found it helps (off in the
paper preset and in NAO-WS), is deterministic under a seed, and refuses bad values in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from nao.estimator import NAO
from pipelines.oneshot.weight_sharing import WeightSharingSearch, pool_policy
from pipelines.search.evaluators import TableEvaluator
from pipelines.search.loop import run_search
from pipelines.strategies import make_strategy

TINY = {"epochs": 20, "patience": None, "max_symmetries": 2}
# pre-training kept on but small where a test is about something else: the default (1000
# architectures, 20 epochs) is pinned below and costs far more than the rest of a test
SMALL = {"n_init": 10, "round_size": 5, "top_k": 5, "pretrain_archs": 20, "pretrain_epochs": 2,
         "nao_params": TINY}


class FakeMember:
    """An ensemble member whose predictions are fixed: the acquisition alone decides."""

    def __init__(self, predictions):
        self.predictions = np.asarray(predictions, dtype=float)

    def predict(self, archs):
        assert len(archs) == len(self.predictions)
        return self.predictions


def fitted_strategy(space, **options):
    """A NAO strategy told its random start, ready for its first fitted round."""
    strategy = make_strategy("nao", space, random_state=0, **{**SMALL, **options})
    archs = strategy.ask(strategy.ask_size)
    strategy.tell(archs, [space.lookup(a).valid for a in archs])
    return strategy


def ensemble(space, members, random_state=0, **options):
    strategy = make_strategy("nao", space, random_state=random_state, n_models=len(members),
                             **options)
    strategy.models = [FakeMember(p) for p in members]
    return strategy


# ----- mutation candidates --------------------------------------------------------------------
def test_mutation_candidates_are_unseen_mutations_of_the_seeds_ranked_with_the_proposals(
        cora, monkeypatch):
    strategy = fitted_strategy(cora, mutation_candidates=12)
    mutated, ranked = [], []
    mutate, pick = cora.mutate, strategy._pick

    def recording_mutate(arch, rng):
        child = mutate(arch, rng)
        mutated.append((arch, child))
        return child

    def recording_pick(candidates, n):
        ranked.append(list(candidates))
        return pick(candidates, n)

    monkeypatch.setattr(cora, "mutate", recording_mutate)
    monkeypatch.setattr(strategy, "_pick", recording_pick)
    order = np.argsort(-np.asarray(strategy.scores), kind="stable")
    seeds = {cora.canonical(strategy.archs[i]) for i in order[:strategy.top_k]}
    strategy.ask(5)
    children = [cora.canonical(c) for _, c in mutated]
    candidates = [cora.canonical(a) for a in ranked[0]]
    assert {cora.canonical(p) for p, _ in mutated} <= seeds  # only the top_k seeds mutate
    tail = candidates[-12:]  # the mutations follow the embedding-step proposals
    assert len(set(tail)) == 12 and set(tail) <= set(children)
    assert not set(tail) & strategy.seen
    assert len(candidates) == len(set(candidates))


def test_without_mutation_candidates_the_space_is_never_mutated(cora, monkeypatch):
    strategy = fitted_strategy(cora, mutation_candidates=0)
    monkeypatch.setattr(cora, "mutate", lambda arch, rng: pytest.fail("mutate was called"))
    assert len(strategy.ask(5)) == 5


def test_default_nao_has_the_chosen_levers_and_the_paper_preset_and_nao_ws_have_none(cora):
    default = make_strategy("nao", cora)
    assert default.mutation_candidates == 20 and default.pretrain_archs == 1000
    assert default.pretrain_epochs == 20  # the one test of the pre-training default
    assert default.candidate_factor == 5.0
    assert default.nao_params["rank_loss_weight"] == 1.0
    assert default.nao_params["warm_patience"] == 10
    assert default.nao_params["predict_symmetries"] == 1  # the searches measured ranked so
    paper = make_strategy("nao-paper", cora)
    assert paper.mutation_candidates == 0 and paper.pretrain_archs == 0
    assert paper.candidate_factor == 1.0
    assert paper.nao_params["rank_loss_weight"] == 0.0
    assert paper.nao_params["warm_patience"] is None
    # NAO-WS: the pool defaults, with a user's nao_params merged in rather than replacing them
    ws = WeightSharingSearch(cora, "nao", pool_size=8, controller_options={
        "nao_params": {"epochs": 7}})
    controller = ws._make_controller(pool_policy("nao", 8, 4), seed=0)
    assert controller.mutation_candidates == 0 and controller.pretrain_archs == 0
    assert controller.candidate_factor == 3.0  # LEVERS_OFF's
    assert controller.nao_params["rank_loss_weight"] == 0.0
    assert controller.nao_params["warm_patience"] == 20
    assert controller.nao_params["epochs"] == 7


# ----- acquisition ----------------------------------------------------------------------------
# candidate 0: all members agree on 0.6; 1: mean 0.5 but a wide spread; 2: 0.55 everywhere
SPREAD = [[0.6, 0.2, 0.55], [0.6, 0.5, 0.55], [0.6, 0.8, 0.55]]


def test_ucb_ranks_by_mean_plus_kappa_times_the_ensemble_spread(cora):
    assert ensemble(cora, SPREAD, acquisition="ucb")._pick([0, 1, 2], 2) == [1, 0]
    assert ensemble(cora, SPREAD, acquisition="ucb", ucb_kappa=0.2)._pick([0, 1, 2], 1) == [0]
    # std 0.245: kappa 0.3 puts candidate 1 at 0.5735, between candidates 0 and 2
    assert ensemble(cora, SPREAD, acquisition="ucb", ucb_kappa=0.3)._pick([0, 1, 2], 3) \
        == [0, 1, 2]


def test_mean_acquisition_ignores_the_spread(cora):
    assert ensemble(cora, SPREAD)._pick([0, 1, 2], 3) == [0, 2, 1]


# each member ranks a different candidate first; candidate 3 is every member's last
FAVOURITES = [[0.9, 0.1, 0.2, 0.0], [0.1, 0.9, 0.2, 0.0], [0.1, 0.2, 0.9, 0.0]]


def test_thompson_takes_each_pick_from_one_randomly_drawn_member(cora):
    strategy = ensemble(cora, FAVOURITES, acquisition="thompson")
    firsts = [strategy._pick([0, 1, 2, 3], 1)[0] for _ in range(40)]
    assert set(firsts) == {0, 1, 2}  # every member's favourite gets drawn
    picks = [strategy._pick([0, 1, 2, 3], 3) for _ in range(20)]
    assert all(len(set(p)) == 3 and 3 not in p for p in picks)


def test_thompson_picks_are_fixed_by_the_seed(cora):
    def picks(seed):
        strategy = ensemble(cora, FAVOURITES, acquisition="thompson", random_state=seed)
        return [strategy._pick([0, 1, 2, 3], 2) for _ in range(10)]

    assert picks(5) == picks(5)
    assert picks(5) != picks(6)


# ----- ranking loss ---------------------------------------------------------------------------
def fit(space, sample, **params):
    archs, y = sample
    return NAO(space, random_state=0, **TINY, **params).fit(archs[:40], y[:40])


def test_rank_loss_weight_zero_is_bit_identical_to_the_plain_loss(cora, cora_sample):
    archs = cora_sample[0][40:]
    plain = fit(cora, cora_sample)
    zero = fit(cora, cora_sample, rank_loss_weight=0.0, rank_loss="logistic")
    assert zero.loss_curve_ == plain.loss_curve_
    assert np.array_equal(zero.predict(archs), plain.predict(archs))
    ranked = fit(cora, cora_sample, rank_loss_weight=1.0)
    assert not np.array_equal(ranked.predict(archs), plain.predict(archs))


@pytest.mark.parametrize("kind", ["hinge", "logistic"])
def test_pair_loss_punishes_only_pairs_predicted_in_the_wrong_order(cora, kind):
    est = NAO(cora, rank_loss=kind)
    target = torch.tensor([0.0, 0.5, 1.0])
    ordered = est._pair_loss(torch.tensor([0.0, 0.5, 1.0]), target)
    reversed_ = est._pair_loss(torch.tensor([1.0, 0.5, 0.0]), target)
    assert reversed_ > ordered + 0.3
    if kind == "hinge":  # gaps of 0.5 clear the margin: nothing to learn
        assert ordered == 0
    tied = est._pair_loss(torch.tensor([0.3, 0.9]), torch.tensor([0.5, 0.5]))
    assert tied == 0  # equal targets (symmetric copies) make no pair


# ----- unlabelled pre-training ----------------------------------------------------------------
def test_pretraining_teaches_the_decoder_architectures_that_had_no_label(cora):
    """10 labelled architectures teach a decoder nothing it can reconstruct; 200 unlabelled
    ones first, and the fitted model rebuilds unseen architectures (0.95 here; 0.6 after 8
    pre-training epochs at the estimator's default layer sizes, 0.0 without)."""
    from pipelines.search.predictor_eval import sample_distinct

    archs = sample_distinct(cora, 230, np.random.default_rng(7))
    labelled, unlabelled, held_out = archs[:10], archs[10:210], archs[210:]
    y = [cora.lookup(a).valid for a in labelled]
    params = {**TINY, "batch_size": 20, "lr": 3e-3}

    def exact(est):
        return np.mean([cora.canonical(a) == cora.canonical(b)
                        for a, b in zip(est.reconstruct(held_out), held_out, strict=True)])

    plain = NAO(cora, random_state=0, **params).fit(labelled, y)
    pre = NAO(cora, random_state=0, **params).pretrain(unlabelled, epochs=16)
    fresh = NAO(cora, random_state=0, **params)
    fresh.device_ = torch.device("cpu")
    torch.manual_seed(int(np.random.default_rng(0).integers(2**31 - 1)))  # pretrain's seed
    fresh = fresh._new_model()
    assert any(not torch.equal(a, b) for a, b in zip(
        pre.pretrained_.encoder.state_dict().values(), fresh.encoder.state_dict().values(),
        strict=True))
    before = {k: v.clone() for k, v in pre.pretrained_.state_dict().items()}
    pre.fit(labelled, y)
    assert all(torch.equal(before[k], v) for k, v in pre.pretrained_.state_dict().items())
    assert exact(pre) >= 0.8 and exact(plain) <= 0.2


def test_pretrain_refuses_no_architectures_and_bad_epochs(cora):
    with pytest.raises(ConfigError, match="at least 1 architecture"):
        NAO(cora).pretrain([])
    with pytest.raises(ConfigError, match="pretrain epochs must be a whole number >= 1"):
        NAO(cora).pretrain([cora.sample(np.random.default_rng(0))], epochs=0)


def test_strategy_pretrains_each_model_once_on_unseen_architectures(cora, monkeypatch):
    calls = []
    pretrain = NAO.pretrain

    def recording(self, archs, epochs=20, on_epoch=None):
        calls.append((list(archs), epochs))
        return pretrain(self, archs, epochs, on_epoch)

    monkeypatch.setattr(NAO, "pretrain", recording)
    strategy = make_strategy("nao", cora, random_state=0, n_models=2,
                             **{**SMALL, "pretrain_archs": 50, "pretrain_epochs": 2})
    run_search(cora, strategy, TableEvaluator(cora), 20)  # the random start and two rounds
    assert strategy.rounds == 2 and len(calls) == 2  # each model, the first round only
    keys = [cora.canonical(a) for a in calls[0][0]]
    assert len(set(keys)) == 50 and calls[0][1] == 2
    assert calls[1][0] == calls[0][0]  # the members share one unlabelled sample
    assert not set(keys) & {cora.canonical(a) for a in strategy.archs[:10]}


# ----- determinism and validation ---------------------------------------------------------------
def test_levers_together_give_the_same_search_for_the_same_seed(cora):
    opts = {**SMALL, "mutation_candidates": 8, "n_models": 2, "acquisition": "thompson",
            "pretrain_archs": 30, "pretrain_epochs": 2,
            "nao_params": {**TINY, "rank_loss_weight": 0.5}}

    def history(seed):
        strategy = make_strategy("nao", cora, random_state=seed, **opts)
        return run_search(cora, strategy, TableEvaluator(cora), 15).history

    assert history(1) == history(1)
    assert history(1) != history(2)


@pytest.mark.parametrize(("options", "message"), [
    ({"mutation_candidates": -1},
     "mutation_candidates must be a whole number >= 0 and <= 10000, got -1"),
    ({"mutation_candidates": 2.5},
     "mutation_candidates must be a whole number >= 0 and <= 10000, got 2.5"),
    ({"acquisition": "ei"}, "acquisition must be one of mean, ucb, thompson, got 'ei'"),
    ({"acquisition": "ucb"}, "acquisition ucb needs the spread of an ensemble; set n_models"),
    ({"acquisition": "thompson", "n_models": 1}, "acquisition thompson needs the spread"),
    ({"ucb_kappa": -0.5}, "ucb_kappa must be a finite number >= 0, got -0.5"),
    ({"pretrain_archs": True}, "pretrain_archs must be a whole number >= 0 and <= 10000, got true"),
    ({"pretrain_epochs": 0}, "pretrain_epochs must be a whole number >= 1, got 0"),
    ({"nao_params": {"rank_loss_weight": -1}},
     "nao_params.rank_loss_weight must be a finite number >= 0, got -1"),
    ({"nao_params": {"rank_loss": "listwise"}},
     "nao_params.rank_loss must be one of hinge, logistic, got 'listwise'"),
])
def test_bad_lever_values_are_one_line_config_errors(cora, options, message):
    with pytest.raises(ConfigError) as err:
        make_strategy("nao", cora, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_nao_says_what_it_trains_between_queries_to_whoever_listens(cora):
    said: list[str] = []
    strategy = make_strategy("nao", cora, random_state=0, n_init=8, round_size=4, top_k=4,
                             pretrain_archs=20, pretrain_epochs=2, n_models=2,
                             nao_params={"epochs": 3, "patience": None, "max_symmetries": 1})
    strategy.status = said.append
    run_search(cora, strategy, TableEvaluator(cora), budget=12)
    for member in (1, 2):
        for epoch in (1, 2):
            assert (f"pre-training on 20 unlabelled archs (model {member}/2), epoch {epoch}/2"
                    in said)
        assert f"fitting on 8 archs (model {member}/2), epoch 3/3" in said
    quiet = make_strategy("nao", cora, random_state=0, n_init=8, round_size=4, top_k=4,
                          pretrain_archs=0, nao_params={"epochs": 3, "max_symmetries": 1})
    run_search(cora, quiet, TableEvaluator(cora), budget=12)  # no listener: nothing breaks
