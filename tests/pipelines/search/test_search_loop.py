from __future__ import annotations

import json

import pytest
from support import CountingEvaluator

from pipelines.search.engine import Engine
from pipelines.search.evaluators import Evaluation, Evaluator, TableEvaluator
from pipelines.search.loop import SearchStalledError, pick_record, result_from_store, run_search
from pipelines.search.store import Store
from pipelines.strategies import make_strategy
from pipelines.strategies.base import Strategy
from search_spaces.base import SearchSpace

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


# ----- what a finished search reports --------------------------------------------------------
class Bits(SearchSpace):
    """Eight architectures of three bits, no table: scored by the fraction of ones."""

    name, vocab, length = "bits", ("0", "1"), 3

    def valid_tokens(self, prefix):
        return (0, 1)

    def to_tokens(self, arch):
        return tuple(arch)

    def _arch_from_tokens(self, tokens):
        return tuple(tokens)

    def to_string(self, arch):
        return "".join(map(str, arch))

    def from_string(self, text):
        return self.from_tokens([int(c) for c in text])


class OnesEvaluator(Evaluator):
    def evaluate(self, arch):
        return Evaluation(valid=sum(arch) / 3, test=None, info={"ones": sum(arch)})


class Recording(Strategy):
    """Random proposals of ``ask_size``; remembers every ``n`` it was asked for."""

    def __init__(self, space, random_state=None, ask_size=1):
        super().__init__(space, random_state)
        self.ask_size = ask_size
        self.asked_n: list[int] = []

    def ask(self, n):
        self.asked_n.append(n)
        return self.sample_unseen(n)


def test_the_result_names_the_run_and_reads_back_as_json(cora):
    seen = []
    strategy = make_strategy("random", cora, random_state=7)
    result = run_search(cora, strategy, TableEvaluator(cora), 6, strategy_name="random", seed=7,
                        on_query=seen.append)
    assert seen == result.history
    out = json.loads(json.dumps(result.to_dict()))
    assert (out["space"], out["strategy"], out["seed"], out["queries"]) == (cora.name, "random", 7, 6)
    assert 0 <= out["wall_s"] < 60 and out["wall_s"] == round(result.wall_s, 3)
    assert out["history"][0] == {"query": 1, "arch": result.history[0].arch,
                                 "valid": result.history[0].valid, "test": result.history[0].test}
    best = max(result.history, key=lambda h: h.valid)
    table = cora.benchmark
    assert out["best"] == {"arch": best.arch, "valid": best.valid, "test": best.test,
                           "query": best.query, "valid_rank": table.valid_rank(best.valid),
                           "test_rank": table.test_rank(best.test)}
    assert (out["optimum_valid"], out["optimum_test"]) == (table.optimum_valid, table.optimum_test)


def test_a_pick_without_a_test_score_has_no_test_rank(cora):
    assert pick_record("a", 0.5, None, 3, cora.benchmark) == {
        "arch": "a", "valid": 0.5, "test": None, "query": 3,
        "valid_rank": cora.benchmark.valid_rank(0.5)}


def test_a_space_without_a_table_reports_no_ranks_and_the_store_keeps_the_info(tmp_path):
    space = Bits()
    store = Store(tmp_path / Store.FILENAME)
    result = run_search(space, Recording(space, 0), OnesEvaluator(), 8, store=store)
    out = result.to_dict()
    assert out["best"] == {"arch": "111", "valid": 1.0, "test": None,
                           "query": next(h.query for h in result.history if h.arch == "111")}
    assert "optimum_valid" not in out and "valid_rank" not in out["best"]
    stored = store.evaluations()
    assert sorted(s.arch for s in stored.values()) == sorted(h.arch for h in result.history)
    assert all(s.info == {"ones": s.arch.count("1")} for s in stored.values())


def test_the_strategy_is_asked_for_its_ask_size_and_never_beyond_the_budget(cora):
    one = Recording(cora, 0)
    run_search(cora, one, TableEvaluator(cora), 3)
    assert one.asked_n == [1, 1, 1]
    four = Recording(cora, 0, ask_size=4)
    run_search(cora, four, TableEvaluator(cora), 6)
    assert four.asked_n == [4, 2]


class Silent(Strategy):
    """Proposes nothing at all."""

    def ask(self, n):
        return []


def test_stalls_are_counted_from_the_first_ask_and_the_error_says_who_and_after_what(cora):
    strategy = RepeatingStrategy(cora)
    asks = []
    ask = strategy.ask
    strategy.ask = lambda n: asks.append(n) or ask(n)
    with pytest.raises(SearchStalledError) as info:
        run_search(cora, strategy, TableEvaluator(cora), 5, max_stalls=3)
    assert len(asks) == 4  # one evaluated, then three that gave nothing new
    assert info.value.queries == 1
    assert str(info.value).startswith("RepeatingStrategy proposed only already-evaluated "
                                      "architectures 3 times in a row after 1 queries; the space "
                                      "may be exhausted (lower --budget)")
    silent = Silent(cora)
    asks.clear()
    silent.ask = lambda n: asks.append(n) or []
    with pytest.raises(SearchStalledError, match="^silent proposed only .* 2 times .* after 0 q"):
        run_search(cora, silent, TableEvaluator(cora), 5, max_stalls=2, strategy_name="silent")
    assert len(asks) == 2


def test_a_resumed_search_tells_the_strategy_the_stored_scores_too(tmp_path, cora):
    config = {"space": cora.name}
    store = Store.open_run(tmp_path, config, resume=False)
    first = run_search(cora, Recording(cora, 5), TableEvaluator(cora), 4, store=store)
    store.close()
    store = Store.open_run(tmp_path, config, resume=True)
    again = Recording(cora, 5)
    resumed = run_search(cora, again, CountingEvaluator(cora), 6, store=store)
    store.close()
    assert resumed.history[:4] == first.history
    assert [cora.to_string(a) for a in again.archs] == [h.arch for h in resumed.history]
    assert again.scores == [h.valid for h in resumed.history]


class LastFirstEngine(Engine):
    """Three at once; each wait finishes only the child submitted last (out of ask order)."""

    capacity = 3

    def __init__(self, evaluator):
        self.evaluator, self.running, self.most = evaluator, [], 0

    def submit(self, key, arch):
        self.running.append((key, arch))
        self.most = max(self.most, len(self.running))

    def wait(self):
        key, arch = self.running.pop()
        return [(key, self.evaluator.evaluate(arch))]


def test_a_parallel_engine_stays_full_within_the_budget_and_every_result_is_told_once(cora):
    strategy = Recording(cora, 3, ask_size=2)
    engine = LastFirstEngine(TableEvaluator(cora))
    result = run_search(cora, strategy, None, 10, engine=engine)
    # asked again only while fewer than three run: at most 2 + one ask of 2
    assert 1 < engine.most <= engine.capacity - 1 + strategy.ask_size and not engine.running
    assert sum(strategy.asked_n) == 10 == result.queries
    keys = [cora.canonical(cora.from_string(h.arch)) for h in result.history]
    assert len(set(keys)) == 10
    assert [cora.to_string(a) for a in strategy.archs] == [h.arch for h in result.history]
    assert strategy.scores == [h.valid for h in result.history]


def test_a_finished_search_reads_back_from_its_store_without_the_strategy(tmp_path, cora):
    store = Store(tmp_path / Store.FILENAME)
    ran = search(cora, seed=2, budget=8, store=store)
    back = result_from_store(cora, store, 8, strategy_name="random", seed=2)
    assert back.history == ran.history and back.best == ran.best
    assert (back.space, back.strategy, back.seed, back.queries) == (cora.name, "random", 2, 8)
    assert 0 <= back.wall_s < 60
    assert result_from_store(cora, store, 5).history == ran.history[:5]
    with pytest.raises(ValueError, match="^the store holds 8 evaluations, fewer than 9$"):
        result_from_store(cora, store, 9)


def test_a_group_set_whole_merges_with_the_settings_given_before_it():
    """``--set nao_params.epochs=5 --set nao_params={"lr": 0.01}``: both reach NAO; the group
    given whole does not silently drop what was set under it before."""
    from pipelines.commands.common import parse_settings

    assert parse_settings(["nao_params.epochs=5", 'nao_params={"lr": 0.01}']) == {
        "nao_params": {"epochs": 5, "lr": 0.01}}
    assert parse_settings(['nao_params={"lr": 0.01, "epochs": 3}', "nao_params.epochs=5"]) == {
        "nao_params": {"lr": 0.01, "epochs": 5}}
