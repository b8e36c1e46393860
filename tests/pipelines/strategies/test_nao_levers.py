"""The levers of the NAO strategy and estimator (rank loss, mutations, pre-training, ...): each
changes what it should, is on by default only where docs/results.md found it helps (off in the
paper preset and in NAO-WS), is deterministic under a seed, and refuses bad values in one line.
Then the strategy around them: its options, one round with stand-in models (what each member is
asked for, what is ranked, kept and filled), its fits, saved state and warnings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from nao.estimator import NAO
from pipelines.oneshot.weight_sharing import WeightSharingSearch, pool_policy
from pipelines.search.evaluators import TableEvaluator
from pipelines.search.loop import run_search
from pipelines.strategies import NAOStrategy, Strategy, make_strategy
from pipelines.strategies.nao_strategy import DEFAULT_NAO_PARAMS
from search_spaces import get_space

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
    assert default.n_init == 10  # steering from the 11th query
    paper = make_strategy("nao-paper", cora)
    assert paper.n_init == 30  # the paper's own start
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


# ----- the strategy around the levers: options, state, fits, warnings --------------------------
def test_a_restored_nao_strategy_keeps_its_round_count_random_fill_and_latest_tell(cora):
    original = make_strategy("nao", cora, random_state=0, fit_on="latest", **SMALL)
    archs = original.sample_unseen(13)
    original.tell(archs[:10], [0.1 * i for i in range(10)])
    original.tell(archs[10:], [0.5, 0.6, 0.7])
    original.rounds, original.n_random_fill = 4, 2
    restored = make_strategy("nao", cora, random_state=1, fit_on="latest", **SMALL)
    restored.load_state_dict(original.state_dict())
    assert (restored.rounds, restored.n_random_fill, restored.n_last_told) == (4, 2, 3)
    assert restored._training_set() == (archs[10:], [0.5, 0.6, 0.7])


def test_a_state_saved_without_the_nao_counters_loads_them_as_a_fresh_search(cora):
    """A plain strategy state (history and generator only) starts the counters at zero, with
    no fitted models, rather than failing."""
    strategy = make_strategy("nao", cora, random_state=0, fit_on="latest", **SMALL)
    archs = strategy.sample_unseen(4)
    strategy.tell(archs, [0.1, 0.2, 0.3, 0.4])
    state = Strategy.state_dict(strategy)
    restored = make_strategy("nao", cora, random_state=1, fit_on="latest", **SMALL)
    restored.rounds = restored.n_random_fill = restored.n_last_told = 9
    restored.load_state_dict(state)
    assert (restored.rounds, restored.n_random_fill, restored.n_last_told) == (0, 0, 0)
    assert restored.models == [] and restored.model is None
    assert restored._training_set() == (archs, [0.1, 0.2, 0.3, 0.4])  # no latest tell: all


def test_mutation_candidates_leave_out_the_excluded_architectures(cora, monkeypatch):
    strategy = make_strategy("nao", cora, random_state=0, mutation_candidates=3, **{
        k: v for k, v in SMALL.items() if k != "mutation_candidates"})
    pool = strategy.sample_unseen(6)
    children = iter(pool * 20)
    monkeypatch.setattr(cora, "mutate", lambda arch, rng: next(children))
    excluded = {cora.canonical(a) for a in pool[:3]}
    assert strategy._mutations(pool[:1], excluded) == pool[3:]


def test_a_budget_not_above_n_init_is_the_one_warning_and_says_nao_never_runs(cora):
    strategy = make_strategy("nao", cora, n_init=10, pseudo_labels=10_000,
                             nao_params={"hidden_size": 300})
    assert strategy.warnings(10) == [
        "--budget 10 is not more than n_init=10, so NAO never runs: all 10 architectures are "
        "random samples (a random search); raise --budget above 10 or lower n_init "
        "(--set n_init=N, at least 2)"]
    assert len(strategy.warnings(11)) == 2  # NAO runs: the slow settings are worth a word
    assert not any("n_init" in text for text in strategy.warnings(11))


def test_pseudo_labels_up_to_five_times_the_budget_say_nothing(cora):
    assert make_strategy("nao", cora, n_init=10, pseudo_labels=500).warnings(100) == []


def test_more_pseudo_labels_say_how_many_times_the_training_a_search_takes(cora):
    strategy = make_strategy("nao", cora, n_init=10, pseudo_labels=1201)
    assert strategy.warnings(100) == [
        "pseudo_labels=1201: every round fits NAO a second time, on 1,201 unevaluated "
        "architectures besides the at most 100 evaluated, about 14 times the training of a "
        "search without them; lower pseudo_labels for a faster search"]
    assert strategy.warnings() == []  # no budget, nothing to compare with


def test_slow_estimator_settings_are_named_as_nao_params(cora):
    strategy = make_strategy("nao", cora, nao_params={"hidden_size": 300})
    (text,) = strategy.warnings()
    assert text.startswith("nao_params.hidden_size=300: layers wider than")


def told(space, **options):
    """A NAO strategy told a random start of 4, with NAO's training replaced by a record of
    which estimator was fitted on which seed (nothing is trained)."""
    strategy = make_strategy("nao", space, random_state=0, n_init=4, pretrain_archs=0,
                             **options)
    archs = strategy.sample_unseen(4)
    strategy.tell(archs, [0.1, 0.2, 0.3, 0.4])
    return strategy


@pytest.fixture
def fits(monkeypatch):
    calls: list[tuple[NAO, int]] = []

    def recording(self, archs, scores, on_epoch=None):
        calls.append((self, self.random_state))
        return self

    monkeypatch.setattr(NAO, "fit", recording)
    return calls


def test_ensemble_members_and_rounds_fit_on_seeds_of_their_own(cora, fits):
    strategy = told(cora, n_models=40)
    strategy._fit()
    strategy._fit()
    seeds = [seed for _, seed in fits]
    assert len(set(seeds)) == 80


@pytest.mark.parametrize("warm_start", [True, False])
def test_warm_start_keeps_the_estimators_between_rounds_and_a_cold_refit_builds_new_ones(
        cora, fits, warm_start):
    strategy = told(cora, n_models=2, warm_start=warm_start)
    first = strategy._fit()
    second = strategy._fit()
    assert [a is b for a, b in zip(first, second, strict=True)] == [warm_start] * 2
    assert [model for model, _ in fits] == first + second


def test_a_nao_strategy_built_with_no_options_has_the_documented_defaults(cora):
    strategy = NAOStrategy(cora)
    assert (strategy.label, strategy.n_init, strategy.round_size, strategy.top_k) == (
        "nao", 10, 10, 5)
    assert (strategy.warm_start, strategy.candidate_factor, strategy.random_candidates) == (
        True, 5.0, 0)
    assert (strategy.fit_on, strategy.n_models, strategy.pseudo_labels) == ("all", 1, 0)
    assert (strategy.acquisition, strategy.ucb_kappa) == ("mean", 1.0)
    assert strategy.nao_params == DEFAULT_NAO_PARAMS
    # nothing fitted, counted or told yet, and a state to save already
    assert (strategy.rounds, strategy.n_random_fill, strategy.n_last_told) == (0, 0, 0)
    assert strategy.models == [] and strategy.model is None
    assert strategy.state_dict()["models"] == []


WHY_DRAWN = "; they are drawn from at most 10,000 random samples, so more cannot be had"
WHY_MUTATIONS = "; every round draws and ranks them all with the predictor (the default is 20)"


@pytest.mark.parametrize(("options", "message"), [
    ({"n_init": 1}, "n_init must be a whole number >= 2, got 1"),
    ({"round_size": 0}, "round_size must be a whole number >= 1, got 0"),
    ({"top_k": 0}, "top_k must be a whole number >= 1, got 0"),
    ({"top_k_ramp": -1}, "top_k_ramp must be a whole number >= 0, got -1"),
    ({"warm_start": 1}, "warm_start must be true or false, got 1"),
    ({"candidate_factor": 0.99},
     "candidate_factor must be a finite number >= 1 and <= 100, got 0.99"),
    ({"candidate_factor": 100.5},
     "candidate_factor must be a finite number >= 1 and <= 100, got 100.5"),
    ({"random_candidates": -1},
     "random_candidates must be a whole number >= 0 and <= 10000, got -1" + WHY_DRAWN),
    ({"random_candidates": 10_001},
     "random_candidates must be a whole number >= 0 and <= 10000, got 10001" + WHY_DRAWN),
    ({"fit_on": "best"}, "fit_on must be one of all, latest, got 'best'"),
    ({"n_models": 0}, "n_models must be a whole number >= 1 and <= 100, got 0"),
    ({"n_models": 101}, "n_models must be a whole number >= 1 and <= 100, got 101"),
    ({"pseudo_labels": -1},
     "pseudo_labels must be a whole number >= 0 and <= 10000, got -1" + WHY_DRAWN),
    ({"pseudo_labels": 10_001},
     "pseudo_labels must be a whole number >= 0 and <= 10000, got 10001" + WHY_DRAWN),
    ({"mutation_candidates": 10_001},
     "mutation_candidates must be a whole number >= 0 and <= 10000, got 10001" + WHY_MUTATIONS),
    ({"acquisition": "best"}, "acquisition must be one of mean, ucb, thompson, got 'best'"),
    ({"acquisition": "ucb"}, "acquisition ucb needs the spread of an ensemble; set n_models "
                             "to 2 or more, or use acquisition mean"),
    ({"ucb_kappa": -0.5}, "ucb_kappa must be a finite number >= 0, got -0.5"),
    ({"pretrain_archs": 10_001},
     "pretrain_archs must be a whole number >= 0 and <= 10000, got 10001" + WHY_DRAWN),
    ({"pretrain_epochs": 0}, "pretrain_epochs must be a whole number >= 1, got 0"),
    ({"nao_params": {"width": 3}}, "nao_params has no option width; it takes batch_size, "),
    ({"nao_params": [3]}, "nao_params must be a group of options or null"),
    ({"nao_params": {"warm_start": False}}, "nao_params has no option warm_start"),
    ({"nao_params": {"epochs": 0}}, "nao_params.epochs must be a whole number >= 1, got 0"),
])
def test_each_option_is_refused_outside_its_range_naming_the_strategy(cora, options, message):
    with pytest.raises(ConfigError) as err:
        NAOStrategy(cora, label="nao-x", **options)
    assert str(err.value).startswith(f"nao-x strategy: {message}")


def test_each_option_is_taken_at_the_ends_of_its_range(cora):
    low = NAOStrategy(cora, n_init=2, round_size=1, top_k=1, candidate_factor=1,
                      random_candidates=0, n_models=1, pseudo_labels=0, mutation_candidates=0,
                      ucb_kappa=0, pretrain_archs=0, pretrain_epochs=1, nao_params=None)
    assert (low.n_init, low.round_size, low.top_k, low.candidate_factor) == (2, 1, 1, 1.0)
    assert (low.n_models, low.pretrain_epochs, low.ucb_kappa) == (1, 1, 0.0)
    high = NAOStrategy(cora, candidate_factor=100, random_candidates=10_000, n_models=100,
                       pseudo_labels=10_000, mutation_candidates=10_000, pretrain_archs=10_000,
                       fit_on="latest", acquisition="thompson", warm_start=False)
    assert (high.candidate_factor, high.random_candidates, high.n_models) == (100.0, 10_000, 100)
    assert (high.pseudo_labels, high.mutation_candidates, high.pretrain_archs) == (
        10_000, 10_000, 10_000)
    assert (high.fit_on, high.acquisition, high.warm_start) == ("latest", "thompson", False)


def test_the_epoch_hook_names_the_ensemble_member_only_in_an_ensemble(cora):
    said: list[str] = []
    single, trio = NAOStrategy(cora), NAOStrategy(cora, n_models=3)
    assert single._progress("fitting on 4 archs", 0) is None  # nobody listens
    single.status = trio.status = said.append
    single._progress("fitting on 4 archs", 0)(1, 3)
    trio._progress("fitting on 4 archs", 2)(3, 3)
    assert said == ["fitting on 4 archs, epoch 1/3", "fitting on 4 archs (model 3/3), epoch 3/3"]


@pytest.mark.parametrize("fit_on", ["all", "latest"])
def test_fit_on_latest_trains_on_the_last_tell_and_all_on_everything_told(cora, fit_on):
    strategy = NAOStrategy(cora, fit_on=fit_on)
    archs = strategy.sample_unseen(5)
    assert strategy._training_set() == ([], [])
    strategy.tell(archs[:3], [0.3, 0.2, 0.1])
    strategy.tell(archs[3:], [0.5, 0.4])
    latest = (archs[3:], [0.5, 0.4])
    assert strategy._training_set() == (latest if fit_on == "latest" else (archs, [
        0.3, 0.2, 0.1, 0.5, 0.4]))


# ----- one round with stand-in models: what is asked of them and what is kept ----------------
class Proposer:
    """An ensemble member that proposes from a fixed list (the first ones not excluded) and
    predicts fixed values, recording what it was asked."""

    def __init__(self, space, archs, values=None):
        self.space, self.archs, self.values = space, list(archs), values or {}
        self.proposed: list[tuple[list, int, set]] = []
        self.predicted: list[list] = []

    def propose(self, seeds, n, exclude):
        self.proposed.append((list(seeds), n, set(exclude)))
        return [a for a in self.archs if self.space.canonical(a) not in exclude][:n]

    def predict(self, archs):
        self.predicted.append(list(archs))
        return np.array([self.values.get(self.space.canonical(a), 0.0) for a in archs])


def started(space, scores, monkeypatch, **options):
    """A NAO strategy told a random start with ``scores``; its fits give ``strategy.models``
    as they are (set them to stand-ins), training nothing."""
    options = {"n_init": len(scores), "pretrain_archs": 0, "mutation_candidates": 0,
               "candidate_factor": 1.0, **options}
    strategy = NAOStrategy(space, random_state=0, **options)
    strategy.tell(strategy.sample_unseen(len(scores)), scores)
    monkeypatch.setattr(strategy, "_fit", lambda: strategy.models)
    return strategy


def keys(space, archs):
    return {space.canonical(a) for a in archs}


def test_each_member_is_asked_for_its_share_of_the_candidates_from_the_top_k_seeds(
        monkeypatch):
    space = get_space("synthetic:positions=3,choices=4")
    strategy = started(space, [0.1, 0.4, 0.3, 0.2], monkeypatch, top_k=2, candidate_factor=2.5,
                       n_models=3)
    pool = strategy.sample_unseen(30)
    favour = {space.canonical(pool[i]): 1.0 - i / 100 for i in (11, 4, 1)}
    strategy.models = [Proposer(space, pool[:10], favour), Proposer(space, pool[:10], favour),
                       Proposer(space, pool[10:20], favour)]
    seen = set(strategy.seen)
    assert strategy.ask(3) == [pool[1], pool[4], pool[11]]  # the best 3 of 9, in turn
    # 3 asked for at 2.5 candidates each: 8, a third of them (rounded up) from each member,
    # each from the two best told, none told or proposed by a member before it
    assert [call[:2] for m in strategy.models for call in m.proposed] == [
        ([strategy.archs[1], strategy.archs[2]], 3)] * 3
    assert [m.proposed[0][2] for m in strategy.models] == [
        seen, seen | keys(space, pool[:3]), seen | keys(space, pool[:6])]
    assert strategy.models[0].predicted == [pool[:3] + pool[3:6] + pool[10:13]]
    assert (strategy.rounds, strategy.n_random_fill) == (1, 0)


@pytest.mark.parametrize("ramp, told, seeds", [
    (0, 12, 4),  # off: top_k always
    (5, 9, 1), (5, 10, 2), (5, 12, 2), (5, 15, 3),  # one per 5 evaluated
    (5, 25, 4),  # at most top_k
    (20, 12, 1),  # at least one
])
def test_a_ramp_seeds_a_round_with_one_of_the_best_per_so_many_evaluated(monkeypatch, ramp,
                                                                          told, seeds):
    space = get_space("synthetic:positions=4,choices=4")
    scores = list(np.linspace(0.0, 1.0, told))[::-1]  # the first told is the best
    strategy = started(space, scores, monkeypatch, top_k=4, top_k_ramp=ramp,
                       mutation_candidates=8)  # the seeds mutate in turn: each at least twice
    proposer = Proposer(space, strategy.sample_unseen(5))
    strategy.models = [proposer]
    mutated = []
    monkeypatch.setattr(space, "mutate", lambda arch, rng: mutated.append(arch) or
                        space.sample(rng))
    strategy.ask(2)
    best = strategy.archs[:seeds]
    assert proposer.proposed[0][0] == best  # the embedding steps start from them
    assert {space.canonical(a) for a in mutated} == keys(space, best)  # and only they mutate


def test_mutations_and_random_candidates_join_the_proposals_each_new(monkeypatch):
    """On a space of 9 architectures: 4 told, 2 proposed, 2 mutations and the one left."""
    space = get_space("synthetic:positions=2,choices=3")
    strategy = started(space, [0.1, 0.4, 0.3, 0.2], monkeypatch, mutation_candidates=2,
                       random_candidates=2)
    rest = strategy.sample_unseen(5)
    children = iter([strategy.archs[0], rest[0], rest[2], rest[3]] * 5)
    monkeypatch.setattr(space, "mutate", lambda arch, rng: next(children))
    member = Proposer(space, rest[:2], {space.canonical(rest[i]): 1.0 for i in (3, 4)})
    strategy.models = [member]
    assert strategy.ask(2) == [rest[3], rest[4]]
    assert member.predicted == [rest]  # proposals, mutations, the random one: ranked together


def test_a_round_short_of_proposals_is_filled_with_new_random_ones_and_counted(monkeypatch):
    space = get_space("synthetic:positions=2,choices=3")
    strategy = started(space, [0.1, 0.4, 0.3, 0.2], monkeypatch)
    rest = strategy.sample_unseen(5)
    strategy.models = [Proposer(space, rest[:3])]
    for count in (2, 4):  # asked for 6, 3 proposed, the 2 others left to fill with
        asked = strategy.ask(6)
        assert asked[:3] == rest[:3] and keys(space, asked) == keys(space, rest)
        assert len(asked) == 5 and strategy.n_random_fill == count


def test_proposals_that_fit_the_ask_exactly_are_not_ranked(monkeypatch):
    space = get_space("synthetic:positions=2,choices=3")
    strategy = started(space, [0.1, 0.4, 0.3, 0.2], monkeypatch)
    rest = strategy.sample_unseen(5)
    strategy.models = [Proposer(space, rest)]
    assert strategy.ask(3) == rest[:3]
    assert strategy.models[0].predicted == []


def test_pseudo_labels_train_each_member_again_on_unseen_archs_labelled_by_the_ensemble(
        cora, monkeypatch):
    fitted: list[tuple[NAO, list, list]] = []
    belief: dict[int, float] = {}  # each member predicts one value for everything

    def fit(self, archs, scores, on_epoch=None):
        fitted.append((self, list(archs), list(scores)))
        if id(self) not in belief:
            belief[id(self)] = [0.5, 0.7][len(belief)]
        on_epoch(1, 1)
        return self

    monkeypatch.setattr(NAO, "fit", fit)
    monkeypatch.setattr(NAO, "predict", lambda self, archs: np.full(len(archs), belief[id(self)]))
    strategy = told(cora, n_models=2, pseudo_labels=5)
    said: list[str] = []
    strategy.status = said.append
    members = strategy._fit()
    assert [f[0] for f in fitted] == members + members
    for _, archs, scores in fitted[:2]:
        assert (archs, scores) == (strategy.archs, strategy.scores)
    unlabelled = fitted[2][1][4:]
    assert len(keys(cora, unlabelled)) == 5 and not keys(cora, unlabelled) & strategy.seen
    for _, archs, scores in fitted[2:]:
        assert archs == strategy.archs + unlabelled
        assert scores == pytest.approx(strategy.scores + [0.6] * 5)
    assert said[2:] == [f"fitting with 5 pseudo-labels (model {i}/2), epoch 1/1" for i in (1, 2)]


# ----- transfer from other tables -----------------------------------------------------------
SOURCES = ["nasbench-graph:citeseer", "nasbench-graph:pubmed"]


def test_transfer_set_is_each_tables_sample_scored_by_its_rank_there(cora):
    strategy = make_strategy("nao", cora, random_state=0, transfer=SOURCES, transfer_archs=30)
    archs, scores = strategy._transfer_set()
    assert len(archs) == len(scores) == 60
    for k, name in enumerate(SOURCES):
        table = get_space(name)
        part, ranks = archs[30 * k:30 * (k + 1)], np.array(scores[30 * k:30 * (k + 1)])
        assert len({table.canonical(a) for a in part}) == 30
        valid = np.array([table.lookup(a).valid for a in part])
        order = np.argsort(valid, kind="stable")
        assert ranks.min() >= 0 and ranks.max() <= 1 and ranks.mean() == pytest.approx(0.5)
        assert ((np.diff(ranks[order]) > 0) == (np.diff(valid[order]) > 0)).all()  # its order,
        assert (np.diff(ranks[order]) >= 0).all()  # ties sharing a rank
        assert len(set(valid)) < 30 or sorted(ranks) == pytest.approx(np.linspace(0, 1, 30))


def test_transfer_fits_each_model_once_on_the_other_tables_before_its_own_fits(cora,
                                                                               monkeypatch):
    calls = []
    fit = NAO.fit

    def recording(self, archs, scores, on_epoch=None):
        calls.append((len(archs), self.epochs, self.warm_start and hasattr(self, "model_")))
        return fit(self, archs, scores, on_epoch)

    monkeypatch.setattr(NAO, "fit", recording)
    strategy = make_strategy("nao", cora, random_state=0, n_models=2, transfer=SOURCES,
                             transfer_archs=15, transfer_epochs=3, **SMALL)
    run_search(cora, strategy, TableEvaluator(cora), 20)  # the random start and two rounds
    # each member's transfer fit (fresh), then each round's fits continue from them
    assert calls == [(30, 3, False), (30, 3, False), (10, 20, True), (10, 20, True),
                     (15, 20, True), (15, 20, True)]
    resumed = make_strategy("nao", cora, random_state=0, n_models=2, transfer=SOURCES,
                            transfer_archs=15, transfer_epochs=3, **SMALL)
    resumed.load_state_dict(strategy.state_dict())
    calls.clear()
    resumed.tell(resumed.ask(5), [0.5] * 5)
    assert [n for n, _e, _w in calls] == [20, 20]  # restored networks: no second transfer


@pytest.mark.parametrize("options, message", [
    ({"transfer": "nasbench-graph:cora"}, "the space searched, would read the answers"),
    ({"transfer": "synthetic:positions=4,choices=3"}, "not written in the tokens of"),
    ({"transfer": "enas-micro"}, "has no table"),
    ({"transfer": [1]}, "transfer must be space names"),
    ({"transfer": SOURCES, "warm_start": False}, "transfer needs warm_start true"),
    ({"transfer": SOURCES, "transfer_archs": 1}, "transfer_archs"),
    ({"transfer": SOURCES, "transfer_epochs": 0}, "transfer_epochs"),
])
def test_a_transfer_that_cannot_work_is_refused_in_one_line(cora, options, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_strategy("nao", cora, random_state=0, **options)
    assert "\n" not in str(err.value)


def test_without_transfer_no_other_table_is_read(cora, monkeypatch):
    monkeypatch.setattr(NAOStrategy, "_transfer_set", lambda self: pytest.fail("read a table"))
    strategy = make_strategy("nao", cora, random_state=0, **SMALL)
    run_search(cora, strategy, TableEvaluator(cora), 15)
    assert strategy.transfer == ()


@pytest.mark.parametrize("options, message", [
    ({"transfer_archs": 1}, "nao strategy: transfer_archs must be a whole number >= 2 and <= "
     "10000, got 1; they are drawn from at most 10,000 random samples, so more cannot be had"),
    ({"transfer_archs": 10001}, "nao strategy: transfer_archs must be a whole number >= 2 and "
     "<= 10000, got 10001; they are drawn from at most 10,000 random samples, so more cannot "
     "be had"),
    ({"transfer_epochs": 0}, "nao strategy: transfer_epochs must be a whole number >= 1, got 0"),
    ({"warm_start": False}, "nao strategy: transfer needs warm_start true (later fits continue "
     "from the transferred networks); drop transfer or warm_start"),
    ({"transfer": "nasbench-graph:cora"}, "nao strategy: transfer from nasbench-graph:cora, "
     "the space searched, would read the answers; name other tables"),
    ({"transfer": "bogus"}, "nao strategy: transfer must be names of other tables of the same "
     "space (e.g. nasbench-graph:citeseer): unknown search space 'bogus'; choose one of "
     "enas-macro, enas-micro, enas-rnn, nao-cnn, nas-rl, nasbench-graph, synthetic"),
])
def test_each_transfer_option_is_refused_at_its_bounds_with_its_exact_message(cora, options,
                                                                               message):
    with pytest.raises(ConfigError) as err:
        make_strategy("nao", cora, random_state=0, **{"transfer": SOURCES, **options})
    assert str(err.value) == message


def test_transfer_options_accept_their_lowest_values_and_default_to_500_and_20(cora):
    low = make_strategy("nao", cora, transfer=SOURCES, transfer_archs=2, transfer_epochs=1)
    assert (low.transfer_archs, low.transfer_epochs) == (2, 1)
    assert [s.name for s in low.transfer] == SOURCES
    assert make_strategy("nao", cora, transfer=SOURCES, transfer_archs=10_000).transfer_archs \
        == 10_000
    default = make_strategy("nao", cora)
    assert (default.transfer, default.transfer_archs, default.transfer_epochs) == ((), 500, 20)


@pytest.mark.parametrize("space_name, transfer, message", [
    ("nasbench-graph:cora", [1], 'nao strategy: transfer must be space names, e.g. '
     '["nasbench-graph:citeseer", "nasbench-graph:pubmed"]'),
    ("synthetic:positions=5,choices=3", "synthetic:positions=4,choices=3,seed=1",
     "nao strategy: transfer from synthetic:positions=4,choices=3,seed=1: its architectures "
     "are not written in the tokens of synthetic:positions=5,choices=3,seed=0; name tables of "
     "the same space (e.g. other nasbench-graph datasets)"),  # the same tokens, one fewer
    pytest.param("nasbench-graph:cora", "enas-micro", "space enas-micro has no table, which "
                 "nao strategy's transfer needs; use one of: nasbench-graph:cora, "
                 "synthetic:positions=6,choices=5,seed=0", id="a-space-without-a-table"),
])
def test_a_transfer_source_of_other_tokens_or_no_table_is_refused_naming_it(space_name,
                                                                            transfer, message):
    with pytest.raises(ConfigError) as err:
        make_strategy("nao", get_space(space_name), random_state=0, transfer=transfer)
    assert str(err.value) == message


def test_two_transferred_architectures_of_a_table_are_its_worst_and_best(cora):
    strategy = make_strategy("nao", cora, random_state=3, transfer=SOURCES[:1],
                             transfer_archs=2)
    archs, scores = strategy._transfer_set()
    valid = [get_space(SOURCES[0]).lookup(a).valid for a in archs]
    assert valid[0] != valid[1]  # not a tie: the ranks are the two ends
    assert sorted(scores) == [0.0, 1.0] and scores[int(np.argmax(valid))] == 1.0


def test_a_transfer_search_is_fixed_by_its_seed_and_says_what_it_transfers(cora):
    said: list[str] = []

    def search():
        strategy = make_strategy("nao", cora, random_state=0, transfer=SOURCES,
                                 transfer_archs=10, transfer_epochs=2, **SMALL)
        strategy.status = said.append
        run_search(cora, strategy, TableEvaluator(cora), 15)
        return ([cora.to_string(a) for a in strategy.archs],
                strategy.model.predict(strategy.archs).tolist())

    assert search() == search()  # the same architectures, the same networks
    assert "transfer from 2 tables (20 archs), epoch 2/2" in said
