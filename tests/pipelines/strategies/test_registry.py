"""The strategy registry: a preset is an entry (class + options), not a subclass."""

from __future__ import annotations

import pytest

from nao.errors import ConfigError
from pipelines.strategies import STRATEGIES, NAOStrategy, make_strategy
from pipelines.strategies.nao_strategy import PRESETS


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
