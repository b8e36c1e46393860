"""``Choices``: named categorical decisions as a search space, searched by every strategy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nao.errors import ConfigError, InvalidArchitectureError
from pipelines.strategies import make_strategy
from search_spaces.choices import Assignment, Choices

DECISIONS = {"op": ["conv3", "conv5", "pool"], "width": [16, 32, 64], "skip": [True, False]}


def no_wide_pool(arch) -> bool:
    return not (arch["op"] == "pool" and arch["width"] == 64)


@pytest.fixture()
def space() -> Choices:
    return Choices(DECISIONS, valid=no_wide_pool)


def test_an_architecture_is_a_mapping_of_every_decision_to_one_of_its_values(space):
    arch = space.sample(np.random.default_rng(0))
    assert isinstance(arch, Assignment)
    assert list(arch) == ["op", "width", "skip"]
    for name, values in DECISIONS.items():
        assert arch[name] in values
        assert type(arch[name]) is type(values[0])  # 16 stays an int, True a bool
    assert dict(arch) == {k: arch[k] for k in DECISIONS}


def test_tokens_and_text_round_trip_every_combination(space):
    combos = [dict(zip(DECISIONS, values, strict=True))
              for values in itertools.product(*DECISIONS.values())]
    allowed = [c for c in combos if no_wide_pool(c)]
    assert len(allowed) == 18 - 2
    seen = set()
    for combo in allowed:
        arch = space.assignment(combo)
        assert dict(arch) == combo
        assert space.from_tokens(space.to_tokens(arch)) == arch
        assert space.from_string(space.to_string(arch)) == arch
        seen.add(space.canonical(arch))
    assert len(seen) == len(allowed)  # distinct combinations are distinct architectures
    assert space.to_string(space.assignment({"op": "conv5", "width": 32, "skip": False})) \
        == "op=conv5,width=32,skip=False"


def test_sampling_never_yields_what_the_validity_rule_rejects_and_covers_the_rest(space):
    rng = np.random.default_rng(1)
    drawn = {space.to_string(space.sample(rng)) for _ in range(600)}
    assert len(drawn) == 16
    assert not any(s.startswith("op=pool,width=64") for s in drawn)


def test_the_validity_rule_rejects_tokens_strings_and_dicts_with_a_one_line_error(space):
    bad = {"op": "pool", "width": 64, "skip": True}
    with pytest.raises(InvalidArchitectureError, match="validity rule"):
        space.assignment(bad)
    with pytest.raises(InvalidArchitectureError, match="validity rule"):
        space.from_string("op=pool,width=64,skip=True")


@pytest.mark.parametrize("text, fragment", [
    ("op=conv3,width=16", "expected 3 fields"),
    ("op=conv7,width=16,skip=True", "op='conv7' is not one of the choices conv3, conv5, pool"),
    ("width=16,op=conv3,skip=True", "field 1 should be op=VALUE"),
    ("op=conv3,width,skip=True", "field 2 should be width=VALUE"),
])
def test_bad_text_names_the_field_and_the_choices(space, text, fragment):
    with pytest.raises(InvalidArchitectureError) as err:
        space.from_string(text)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_dict_with_a_missing_unknown_or_foreign_value_is_refused(space):
    with pytest.raises(InvalidArchitectureError, match="missing skip"):
        space.assignment({"op": "conv3", "width": 16})
    with pytest.raises(InvalidArchitectureError, match="unknown depth"):
        space.assignment({"op": "conv3", "width": 16, "skip": True, "depth": 3})
    with pytest.raises(InvalidArchitectureError, match="width=48"):
        space.assignment({"op": "conv3", "width": 48, "skip": True})
    # 1 == True in Python, but it is not the value the user listed for skip
    assert space.assignment({"op": "conv3", "width": 16, "skip": True})["skip"] is True
    with pytest.raises(InvalidArchitectureError, match="skip=1"):
        space.assignment({"op": "conv3", "width": 16, "skip": 1})


@pytest.mark.parametrize("choices, fragment", [
    ({}, "non-empty mapping"),
    ([("op", ["a"])], "non-empty mapping"),
    ({"op": []}, "non-empty list"),
    ({"op": "abc"}, "non-empty list"),
    ({"op": ["a", "a"]}, "more than once"),
    ({"op": [1, "1"]}, "more than once"),
    ({"o,p": ["a"]}, "without ',' or '='"),
    ({"op": ["a=b"]}, "without ',' or '='"),
    ({3: ["a"]}, "must be a string"),
])
def test_bad_decisions_are_a_config_error_saying_what_to_fix(choices, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        Choices(choices)


def test_a_rule_that_admits_nothing_is_said_not_looped_on():
    space = Choices({"a": [0, 1]}, valid=lambda arch: False)
    with pytest.raises(ConfigError, match="admits"):
        space.sample(np.random.default_rng(0))


def test_mutation_changes_one_decision_and_stays_valid(space):
    rng = np.random.default_rng(2)
    for _ in range(50):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert no_wide_pool(child)
        assert sum(arch[k] != child[k] for k in DECISIONS) >= 1


def additive_score(weights: np.ndarray):
    """A score that is a sum of one weight per decision: its best architecture is known."""
    def train(arch) -> float:
        return float(sum(weights[i, arch[f"x{i}"]] for i in range(len(weights))))
    return train


@pytest.mark.parametrize("strategy", ["nao", "evolution", "random"])
def test_a_users_training_function_is_searched_by_ask_and_tell(strategy):
    weights = np.random.default_rng(0).normal(size=(5, 4))
    train = additive_score(weights)
    space = Choices({f"x{i}": [0, 1, 2, 3] for i in range(5)})
    options = {"n_init": 10, "pretrain_archs": 0} if strategy == "nao" else {}
    search = make_strategy(strategy, space, random_state=0, **options)
    scores: list[float] = []
    while len(scores) < 40:  # the documented loop, as docs/quickstart.md writes it
        archs = search.ask(search.ask_size)
        results = [train(arch) for arch in archs]
        search.tell(archs, results)
        scores += results
    assert len({space.canonical(a) for a in search.archs}) == len(search.archs)  # no repeats
    best = weights.max(axis=1).sum()
    # 40 of 1024 architectures: every strategy reaches the top 5 % of the space
    assert max(scores) <= best
    assert max(scores) >= np.quantile([train(space.sample(np.random.default_rng(s)))
                                       for s in range(2000)], 0.95)
