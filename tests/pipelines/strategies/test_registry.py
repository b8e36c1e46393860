"""The strategy registry: a preset is an entry (class + options), not a subclass."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import types

import pytest

import pipelines.strategies as strategies
from nao import plugins
from nao.errors import ConfigError
from pipelines.strategies import (
    STRATEGIES,
    NAOStrategy,
    Registered,
    Strategy,
    StrategyRegistry,
    make_strategy,
)
from pipelines.strategies.nao_strategy import PRESETS
from pipelines.strategies.random_search import RandomSearch


def test_the_paper_preset_is_the_nao_class_started_from_the_preset_options(cora):
    assert STRATEGIES["nao-paper"].cls is NAOStrategy
    strategy = make_strategy("nao-paper", cora, random_state=0)
    assert type(strategy) is NAOStrategy
    paper = PRESETS["paper"]
    assert (strategy.top_k, strategy.candidate_factor) == (paper["top_k"],
                                                           paper["candidate_factor"])
    assert strategy.nao_params["hidden_size"] == paper["nao_params"]["hidden_size"]


def test_user_options_override_a_preset_key_by_key(cora):
    strategy = make_strategy("nao-paper", cora, random_state=0, top_k=3,
                             nao_params={"epochs": 7})
    assert strategy.top_k == 3
    # the nested preset options the user did not name are kept
    assert strategy.nao_params["epochs"] == 7
    assert strategy.nao_params["hidden_size"] == PRESETS["paper"]["nao_params"]["hidden_size"]


def test_the_registry_name_is_not_an_option(cora):
    with pytest.raises(ConfigError, match="has no option label"):
        make_strategy("nao", cora, label="other")


class _TakesNoOptions(Strategy):
    def __init__(self, space, random_state=None):
        super().__init__(space, random_state)

    def ask(self, n):
        return []


class _TakesTwoOptions(_TakesNoOptions):
    def __init__(self, space, random_state=None, beta=1, alpha=2):
        super().__init__(space, random_state)
        self.alpha, self.beta = alpha, beta


@pytest.fixture
def plugin_strategies(monkeypatch):
    """Plugin strategies as installed packages declare them (group ``nao.strategies``): two
    Strategy classes, one that is not a Strategy, and one under a bundled name."""
    module = types.ModuleType("registry_test_plugin")
    module.TakesNoOptions, module.TakesTwoOptions = _TakesNoOptions, _TakesTwoOptions
    module.NotAStrategy = dict
    monkeypatch.setitem(sys.modules, module.__name__, module)
    found = {name: importlib.metadata.EntryPoint(name, f"{module.__name__}:{attr}",
                                                 plugins.STRATEGIES)
             for name, attr in [("still", "TakesNoOptions"), ("two", "TakesTwoOptions"),
                                ("odd", "NotAStrategy"), ("random", "TakesNoOptions")]}
    monkeypatch.setattr(plugins, "entry_points", lambda group: dict(found))
    return found


def test_every_exported_class_is_importable_from_the_package():
    for name, module in [("NAOStrategy", "nao_strategy"), ("RandomSearch", "random_search"),
                         ("RLController", "rl"), ("RegularizedEvolution", "evolution"),
                         ("TPEStrategy", "tpe")]:
        expected = getattr(importlib.import_module(f"pipelines.strategies.{module}"), name)
        assert getattr(strategies, name) is expected
    missing = "Missing"
    assert not hasattr(strategies, missing)
    with pytest.raises(AttributeError, match="has no attribute 'Missing'"):
        getattr(strategies, missing)


def test_an_unknown_strategy_name_lists_the_known_ones(cora):
    with pytest.raises(ConfigError, match=re.escape(
            "unknown strategy 'nope'; choose one of nao, nao-paper, random, rl, evolution, tpe")):
        make_strategy("nope", cora)


def test_unknown_options_are_all_named_next_to_the_accepted_ones(cora, plugin_strategies):
    with pytest.raises(ConfigError, match=re.escape(
            "strategy 'two' has no option gamma, zeta; it takes alpha, beta")):
        make_strategy("two", cora, zeta=1, gamma=2)
    with pytest.raises(ConfigError, match=re.escape(
            "strategy 'still' has no option alpha; it takes none")):
        make_strategy("still", cora, alpha=1)


def test_a_plugin_strategy_is_built_with_its_options_and_a_bundled_name_wins(
        cora, plugin_strategies):
    strategy = make_strategy("two", cora, random_state=0, alpha=5)
    assert type(strategy) is _TakesTwoOptions
    assert (strategy.alpha, strategy.beta) == (5, 1)
    assert STRATEGIES["two"].target == "registry_test_plugin:TakesTwoOptions"
    assert STRATEGIES["random"].cls is RandomSearch
    assert list(STRATEGIES) == ["nao", "nao-paper", "random", "rl", "evolution", "tpe",
                                "still", "two", "odd"]
    assert len(STRATEGIES) == 9
    with pytest.raises(ConfigError, match=re.escape(
            "registry_test_plugin:NotAStrategy is not a subclass of pipelines.strategies.Strategy")):
        make_strategy("odd", cora)


def test_a_registry_holds_the_entries_it_is_given(plugin_strategies):
    registry = StrategyRegistry({"mine": Registered("random_search:RandomSearch")})
    assert registry["mine"].cls is RandomSearch
    assert registry["mine"].preset == {}
    assert list(registry)[:1] == ["mine"]
    assert "still" in registry


def test_a_strategy_that_takes_a_label_is_given_its_registry_name(cora):
    assert make_strategy("nao-paper", cora, random_state=0).label == "nao-paper"
    assert make_strategy("nao", cora, random_state=0).label == "nao"


class _TakesAnyOption(_TakesNoOptions):
    """A plugin that hands its options on (to a library of its own, say) and checks them there."""

    def __init__(self, space, random_state=None, depth=3, **options):
        super().__init__(space, random_state)
        self.depth, self.options = depth, options


def test_a_plugin_with_a_catch_all_takes_any_option_but_the_ones_make_strategy_passes(
        cora, monkeypatch):
    module = types.ModuleType("catch_all_plugin")
    module.TakesAnyOption = _TakesAnyOption
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry = importlib.metadata.EntryPoint("free", f"{module.__name__}:TakesAnyOption",
                                          plugins.STRATEGIES)
    monkeypatch.setattr(plugins, "entry_points", lambda group: {"free": entry})
    strategy = make_strategy("free", cora, random_state=0, depth=5, width=16, act="relu")
    assert (strategy.depth, strategy.options) == (5, {"width": 16, "act": "relu"})
    assert strategies.option_names(_TakesAnyOption) == ["depth"]
    assert strategy.settings() == {"depth": 5}  # a benchmark compares the options beside it
    with pytest.raises(ConfigError, match=re.escape(
            "strategy 'free' has no option random_state; it takes depth")):
        strategies.check_option_names("free", {"random_state": 1, "width": 16})
