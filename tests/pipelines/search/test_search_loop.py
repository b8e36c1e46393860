from __future__ import annotations

import pytest
from support import CountingEvaluator

from pipelines.search.evaluators import TableEvaluator
from pipelines.search.loop import SearchStalledError, run_search
from pipelines.search.store import Store
from pipelines.strategies import make_strategy
from pipelines.strategies.base import Strategy

# pre-training kept on but small: these tests are about the search loop, and the default (1000
# architectures, 20 epochs, pinned in test_nao_levers) costs far more than the rest of a test
SMALL_NAO = {"n_init": 10, "round_size": 5, "top_k": 5, "pretrain_archs": 50,
             "pretrain_epochs": 2,
             "nao_params": {"epochs": 40, "patience": None, "max_symmetries": 2}}





def search(space, strategy="random", seed=0, budget=20, store=None, evaluator=None, **opts):
    evaluator = evaluator or TableEvaluator(space)
    st = make_strategy(strategy, space, random_state=seed, **opts)
    return run_search(space, st, evaluator, budget, strategy_name=strategy, seed=seed, store=store)


def test_budget_counts_distinct_architectures(cora):
    result = search(cora, budget=40)
    keys = [cora.canonical(cora.from_string(h.arch)) for h in result.history]
    assert result.queries == 40 == len(set(keys))
    assert [h.query for h in result.history] == list(range(1, 41))


def test_best_is_the_highest_validation_and_ranked_in_the_table(cora):
    result = search(cora, budget=30)
    best = max(result.history, key=lambda h: h.valid)
    assert result.best["valid"] == best.valid and result.best["arch"] == best.arch
    table = cora.benchmark
    better = sum(r.valid > best.valid for r in table.records.values())
    assert result.best["valid_rank"] == better + 1
    assert result.best["test"] == cora.lookup(cora.from_string(best.arch)).test
    assert result.extra["optimum_valid"] == table.optimum_valid


@pytest.mark.parametrize(("strategy", "opts"), [("random", {}), ("nao", SMALL_NAO)])
def test_same_seed_same_history(cora, strategy, opts):
    a = search(cora, strategy, seed=3, budget=20, **opts).history
    b = search(cora, strategy, seed=3, budget=20, **opts).history
    c = search(cora, strategy, seed=4, budget=20, **opts).history
    assert a == b
    assert a != c


def test_nao_search_proposes_beyond_its_random_start(cora):
    """After the n_init random architectures every round comes from the fitted models: all of
    the first round, and still some of the second, whose seeds now include the first round's
    proposals (there a model this small decodes mostly known architectures: 4 of 5 were random
    fill for seeds 0, 1 and 2, warm or cold, any candidate_factor)."""
    strategy = make_strategy("nao", cora, random_state=0, **SMALL_NAO)
    fills = []
    ask = strategy.ask

    def counting_ask(n):
        before = strategy.n_random_fill
        archs = ask(n)
        fills.append(strategy.n_random_fill - before)
        return archs

    strategy.ask = counting_ask
    run_search(cora, strategy, TableEvaluator(cora), 20)
    assert strategy.rounds == 2 and len(fills) == 3  # the random start, then two NAO rounds
    assert fills[:2] == [0, 0]  # the start is sampled, not filled; round 1 is all proposals
    assert fills[2] < SMALL_NAO["round_size"]  # round 2: at least one model proposal


def test_resume_answers_from_the_store_and_evaluates_nothing_twice(tmp_path, cora):
    config = {"space": cora.name, "strategy": "random", "seed": 1}
    store = Store.open_run(tmp_path, config, resume=False)
    first = search(cora, seed=1, budget=15, store=store)
    store.close()
    assert len(Store(tmp_path / Store.FILENAME)) == 15

    evaluator = CountingEvaluator(cora)
    store = Store.open_run(tmp_path, config, resume=True)
    resumed = search(cora, seed=1, budget=25, store=store, evaluator=evaluator)
    store.close()
    assert evaluator.calls == 10  # only the 10 new ones
    assert resumed.history[:15] == first.history
    assert resumed.history == search(cora, seed=1, budget=25).history


def test_store_refuses_to_overwrite_and_to_resume_another_config(tmp_path, cora):
    config = {"space": cora.name, "strategy": "random", "seed": 1}
    Store.open_run(tmp_path, config, resume=False).close()
    with pytest.raises(ValueError, match="--resume"):
        Store.open_run(tmp_path, config, resume=False)
    with pytest.raises(ValueError, match="seed"):
        Store.open_run(tmp_path, {**config, "seed": 2}, resume=True)
    with pytest.raises(ValueError, match="no search to resume"):
        Store.open_run(tmp_path / "empty", config, resume=True)


class RepeatingStrategy(Strategy):
    """Always asks for the same architecture: the loop must stop, not spin."""

    def ask(self, n):
        return [self.space.from_string("0,0,1,2:gcn,gat,gin,sage")]


def test_a_strategy_that_only_repeats_is_stopped(cora):
    with pytest.raises(SearchStalledError, match="already-evaluated"):
        run_search(cora, RepeatingStrategy(cora), TableEvaluator(cora), 5, max_stalls=3)


class DuplicatingStrategy(Strategy):
    """Asks ``[a, a, b]``: one architecture twice inside a single ask."""

    ask_size = 3

    def __init__(self, space, random_state=None):
        super().__init__(space, random_state)
        self.asked: list = []

    def ask(self, n):
        a, b = self.sample_unseen(2)
        out = [a, a, b][:n]
        self.asked += out
        return out


def test_a_repeat_inside_one_ask_is_evaluated_once_and_counted_once(cora):
    strategy = DuplicatingStrategy(cora, random_state=0)
    evaluator = CountingEvaluator(cora)
    result = run_search(cora, strategy, evaluator, 10)
    keys = [cora.canonical(cora.from_string(h.arch)) for h in result.history]
    assert result.queries == 10 == len(set(keys)) == evaluator.calls
    assert [h.query for h in result.history] == list(range(1, 11))
    # both copies of a repeat are told, with the score of the one evaluation
    score = {k: h.valid for k, h in zip(keys, result.history, strict=True)}
    told = [cora.canonical(a) for a in strategy.archs]
    assert sorted(told, key=repr) == sorted((cora.canonical(a) for a in strategy.asked), key=repr)
    assert strategy.scores == [score[k] for k in told]
    assert len(told) == len(strategy.asked) > 10


def test_unknown_strategy_option_names_what_it_takes(cora):
    with pytest.raises(ValueError, match="has no option top_q"):
        make_strategy("nao", cora, top_q=3)


def test_paper_preset_strategy_evaluates_every_decoded_architecture(cora):
    strategy = make_strategy("nao-paper", cora, random_state=0, top_k=5)
    assert strategy.candidate_factor == 1.0 and strategy.top_k == 5
    assert strategy.nao_params["target_transform"] == "minmax"
    assert strategy.nao_params["hidden_size"] == 96


def test_preset_and_settings_merge_nested_options():
    import argparse

    from pipelines.commands.search import strategy_options

    args = argparse.Namespace(strategy="nao", preset="paper",
                              settings=["nao_params.epochs=5", "top_k=3"])
    options = strategy_options(args)
    assert options["top_k"] == 3 and options["round_size"] == 10
    assert options["nao_params"]["epochs"] == 5
    assert options["nao_params"]["hidden_size"] == 96  # kept from the preset


@pytest.mark.parametrize("extra", [{"n_models": 2}, {"pseudo_labels": 30}])
def test_ensemble_and_semi_supervised_variants_propose_new_architectures(cora, extra):
    strategy = make_strategy("nao", cora, random_state=0, **{**SMALL_NAO, **extra})
    result = run_search(cora, strategy, TableEvaluator(cora), 15)
    assert result.queries == 15
    assert len(strategy.models) == extra.get("n_models", 1)
    assert strategy.n_random_fill == 0  # the models, not random filling, supplied the round


def test_nao_strategy_state_round_trip_continues_identically(cora):
    a = make_strategy("nao", cora, random_state=2, **SMALL_NAO)
    run_search(cora, a, TableEvaluator(cora), 15)  # two fitted rounds with warm-started networks
    b = make_strategy("nao", cora, random_state=99, **SMALL_NAO)
    b.load_state_dict(a.state_dict())
    assert b.rounds == a.rounds and len(b.models) == 1
    assert [cora.canonical(x) for x in b.ask(5)] == [cora.canonical(x) for x in a.ask(5)]
