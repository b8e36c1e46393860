"""The contract every registered strategy keeps on every registered space, checked generically: a
new strategy is tested by its registry line (and, when its defaults are slow, a line in
``OPTIONS``). What is special to one strategy stays in its own test file."""

from __future__ import annotations

import io
import re
import zlib

import pytest
import torch

from nao.errors import ConfigError
from pipelines.strategies import STRATEGIES, Strategy, make_strategy, option_names
from pipelines.training.run_files import plain
from search_spaces import available, get_space
from search_spaces.base import Arch, SearchSpace

# small networks too (the paper preset's are 48/96/200): the contract does not depend on their size
SMALL_NAO = {"n_init": 6, "round_size": 3, "top_k": 3,
             "nao_params": {"epochs": 10, "patience": None, "max_symmetries": 2,
                            "embedding_size": 8, "hidden_size": 16, "mlp_hidden_size": 16}}
# small budgets keep each strategy fast; a strategy not named here runs with its defaults
OPTIONS: dict[str, dict] = {
    "nao": {**SMALL_NAO, "pretrain_archs": 8, "pretrain_epochs": 2, "mutation_candidates": 3},
    "nao-paper": SMALL_NAO,
    "random": {"batch_size": 3},
    "rl": {"batch_size": 3, "hidden_size": 16},
    "evolution": {"batch_size": 3, "population_size": 5, "sample_size": 2},
    "tpe": {"batch_size": 3, "n_startup_trials": 4, "n_ei_candidates": 8},
}
# the command-line name each space family is tested under: small options where one is large
SPACE_NAMES = [{"nasbench-graph": "nasbench-graph:cora",
                "enas-macro": "enas-macro:layers=6,ops=conv5+sep5+avg",
                "enas-rnn": "enas-rnn:nodes=4"}.get(f, f)
               for f in available()]
ROUNDS = 3  # NAO's first round is its random start; two more fit and decode

_SPACES: dict[str, SearchSpace] = {}


@pytest.fixture(scope="module", params=SPACE_NAMES)
def space(request) -> SearchSpace:
    if request.param not in _SPACES:
        _SPACES[request.param] = get_space(request.param)
    return _SPACES[request.param]


@pytest.fixture(params=sorted(STRATEGIES))
def name(request) -> str:
    return request.param


def build(name: str, space: SearchSpace, seed: int) -> Strategy:
    return make_strategy(name, space, random_state=seed, **OPTIONS.get(name, {}))


def score(space: SearchSpace, arch: Arch) -> float:
    """A fixed score per architecture (equivalent ones share it), on any space, table or not."""
    return zlib.crc32(repr(space.canonical(arch)).encode()) / 2**32


def step(strategy: Strategy) -> list[str]:
    """One ask/tell round of the size the strategy likes; what was asked, as strings."""
    archs = strategy.ask(strategy.ask_size)
    strategy.tell(archs, [score(strategy.space, a) for a in archs])
    return [strategy.space.to_string(a) for a in archs]


def run(name: str, space: SearchSpace, seed: int, rounds: int = ROUNDS) -> list[list[str]]:
    strategy = build(name, space, seed)
    return [step(strategy) for _ in range(rounds)]


def test_asks_are_valid_new_and_distinct_architectures_of_the_space(name, space):
    strategy = build(name, space, seed=0)
    told: set = set()
    for _ in range(ROUNDS):
        n = strategy.ask_size
        assert n >= 1
        archs = strategy.ask(n)
        assert len(archs) == n  # the space is far from exhausted
        keys = [space.canonical(a) for a in archs]
        assert len(set(keys)) == n, "an ask repeats an architecture"
        assert not told & set(keys), "an ask repeats an architecture already told"
        for arch in archs:
            assert space.from_tokens(space.to_tokens(arch)) == arch
            assert space.from_string(space.to_string(arch)) == arch
        strategy.tell(archs, [score(space, a) for a in archs])
        told |= set(keys)
    assert len(strategy.archs) == len(strategy.scores) == len(told)
    best, best_score = strategy.best()
    assert best_score == max(strategy.scores) == score(space, best)


def test_the_seed_fixes_the_search_and_another_seed_changes_it(name, space):
    first = run(name, space, seed=0)
    assert run(name, space, seed=0) == first
    assert run(name, space, seed=1) != first


def test_a_strategy_restored_from_its_state_mid_search_asks_what_the_original_asks(name, space):
    """The state goes through the bytes a checkpoint holds (written plain, read back as plain
    data, as ``nao ws`` saves it) into a strategy built with another seed; from there both
    continue alike."""
    original = build(name, space, seed=0)
    for _ in range(ROUNDS - 1):
        step(original)
    buffer = io.BytesIO()
    torch.save(plain(original.state_dict()), buffer)
    buffer.seek(0)
    restored = build(name, space, seed=7)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert [space.to_string(a) for a in restored.archs] == [
        space.to_string(a) for a in original.archs]
    assert restored.scores == original.scores and restored.best() == original.best()
    for _ in range(2):
        assert step(restored) == step(original)


# the strategies whose asks the user sizes with ``batch_size`` (it sets ``ask_size``)
BATCHED = sorted(n for n in STRATEGIES if "batch_size" in option_names(STRATEGIES[n].cls))


def test_the_plain_strategies_take_a_batch_size():
    assert {"random", "rl", "evolution", "tpe"} <= set(BATCHED)


@pytest.mark.parametrize("strategy_name", BATCHED)
@pytest.mark.parametrize("size", [1, 4])
def test_batch_size_is_how_many_architectures_an_ask_holds(strategy_name, size, cora):
    options = {**OPTIONS.get(strategy_name, {}), "batch_size": size}
    strategy = make_strategy(strategy_name, cora, random_state=0, **options)
    assert strategy.ask_size == size  # what the search loop asks for at once
    assert len(strategy.ask(strategy.ask_size)) == size


@pytest.mark.parametrize("strategy_name", BATCHED)
def test_a_batch_size_below_one_is_refused_naming_the_strategy_and_the_option(strategy_name,
                                                                              cora):
    message = f"{strategy_name} strategy: batch_size must be a whole number >= 1, got 0"
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_strategy(strategy_name, cora, random_state=0, batch_size=0)


def test_a_tell_with_more_architectures_than_scores_is_refused_before_anything_is_learnt(name,
                                                                                          cora):
    strategy = build(name, cora, seed=0)
    archs = strategy.ask(2)
    with pytest.raises(ValueError, match="tell got 2 architectures but 1 scores"):
        strategy.tell(archs, [0.5])
    assert strategy.archs == [] and strategy.scores == [] and not strategy.seen
    # the strategy is unharmed: the same architectures told properly are recorded
    strategy.tell(archs, [0.5, 0.25])
    assert strategy.best() == (archs[0], 0.5)


def test_a_strategy_keeps_the_seed_it_was_built_with(name, cora):
    """For subclasses and callers that seed something of their own from it."""
    assert build(name, cora, seed=3).random_state == 3
    assert build(name, cora, seed=None).random_state is None


def test_what_a_strategy_reports_reaches_the_status_its_caller_set(name, cora):
    strategy = build(name, cora, seed=0)
    strategy.report("fitting, epoch 1/2")  # nobody listening: nothing happens
    said: list[str] = []
    strategy.status = said.append
    strategy.report("fitting, epoch 2/2")
    assert said == ["fitting, epoch 2/2"]


def test_settings_name_every_option_with_the_value_the_strategy_runs_with(name, cora):
    """What ``nao benchmark`` matches a saved search on: every option, the ones given (each a
    value other than its default in ``OPTIONS``) and the defaults, as JSON values."""
    import json

    given = OPTIONS.get(name, {})
    settings = build(name, cora, seed=0).settings()
    default = make_strategy(name, cora, random_state=0).settings()
    assert set(settings) == set(default) == set(option_names(STRATEGIES[name].cls))
    assert json.loads(json.dumps(settings)) == settings
    for key, value in given.items():
        if isinstance(value, dict):  # nao_params: the given ones over every other default
            assert value.items() <= settings[key].items()
            assert value.items() != default[key].items() & value.items()
        else:
            assert settings[key] == value != default[key]


def test_nao_settings_hold_the_estimators_defaults_so_changing_one_changes_them(monkeypatch,
                                                                                cora):
    """A default changed in ``DEFAULT_NAO_PARAMS`` (or in the estimator itself) is a change of
    the ``nao`` strategy's settings, though the user's options are the same ``{}``."""
    import pipelines.strategies.nao_strategy as nao_strategy

    before = make_strategy("nao", cora, random_state=0).settings()
    assert before["nao_params"]["epochs"] == 1000 and before["nao_params"]["hidden_size"] == 64
    monkeypatch.setitem(nao_strategy.DEFAULT_NAO_PARAMS, "hidden_size", 65)
    after = make_strategy("nao", cora, random_state=0).settings()
    assert after["nao_params"] == {**before["nao_params"], "hidden_size": 65}
