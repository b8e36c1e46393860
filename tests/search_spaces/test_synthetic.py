"""``synthetic:``: a seeded random score over free positions, with pairwise interactions."""

from __future__ import annotations

import numpy as np
import pytest

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space
from search_spaces.synthetic import MAX_SIZE, SyntheticSpace


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_the_table_holds_every_architecture_with_the_score_lookup_gives():
    space = get_space("synthetic:positions=4,choices=3,seed=2")
    table = space.benchmark
    assert len(table) == space.size == 3 ** 4
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert table.get(space.canonical(arch)) == space.lookup(arch)
    best = max(table.records.values(), key=lambda r: r.valid)
    assert table.valid_rank(best.valid) == 1 and table.optimum_valid == best.valid
    assert 0 < min(r.valid for r in table.records.values()) < best.valid < 1


def test_the_seed_fixes_the_function_and_another_seed_draws_a_new_one():
    one, again, other = (get_space(f"synthetic:positions=5,choices=4,seed={s}") for s in (7, 7, 8))
    archs = [one.sample(np.random.default_rng(i)) for i in range(30)]
    assert [one.lookup(a) for a in archs] == [again.lookup(a) for a in archs]
    assert np.corrcoef([one.lookup(a).valid for a in archs],
                       [other.lookup(a).valid for a in archs])[0, 1] < 0.8


def effect_of_position_0(space: SyntheticSpace, rest: tuple[int, ...]) -> float:
    """How much changing token 0 from c0 to c1 moves the score, the other positions fixed."""
    return logit(space.lookup((1,) + rest).valid) - logit(space.lookup((0,) + rest).valid)


def test_interactions_make_a_positions_effect_depend_on_the_others():
    additive = SyntheticSpace(positions=4, choices=3, seed=1, interactions=0.0)
    coupled = SyntheticSpace(positions=4, choices=3, seed=1, interactions=0.5)
    contexts = [(0, 0, 0), (2, 1, 0), (1, 2, 2)]
    flat = [effect_of_position_0(additive, c) for c in contexts]
    assert max(flat) - min(flat) < 1e-3  # the same effect in every context (up to rounding)
    varied = [effect_of_position_0(coupled, c) for c in contexts]
    assert max(varied) - min(varied) > 0.05


def test_test_accuracy_follows_valid_closely_but_not_exactly():
    space = get_space("synthetic:positions=5,choices=4,seed=0")
    records = list(space.benchmark.records.values())
    valid = np.array([r.valid for r in records])
    test = np.array([r.test for r in records])
    assert 0.9 < np.corrcoef(valid, test)[0, 1] < 0.9999
    assert np.argmax(valid) != np.argmax(test) or not np.allclose(valid, test)


def test_text_form_round_trips_and_bad_text_names_the_position():
    space = get_space("synthetic:positions=3,choices=4,seed=0")
    assert space.to_string((3, 0, 2)) == "c3-c0-c2"
    assert space.from_string("c3-c0-c2") == (3, 0, 2)
    with pytest.raises(InvalidArchitectureError) as err:
        space.from_string("c3-c9-c2")
    assert err.value.position == 1 and "c0..c3" in str(err.value)
    with pytest.raises(InvalidArchitectureError, match="expected 3 tokens"):
        space.from_string("c3-c0")


@pytest.mark.parametrize("options, fragment", [
    ("positions=0", "positions must be a whole number from 1 to 24"),
    ("choices=1", "choices must be a whole number from 2 to 32"),
    ("positions=x", "positions='x' is not a whole number"),
    ("interactions=-1", "interactions='-1' is not a number"),
    ("interactions=11", "interactions must be a number from 0 to 10"),
    ("depth=3", "'depth=3' is not an option"),
    ("seed=1,seed=2", "seed is given twice"),
    ("", "nothing after ':'"),
    ("positions=24,choices=32", f"more than the {MAX_SIZE:,}"),
])
def test_bad_options_are_one_line_errors_naming_the_option(options, fragment):
    with pytest.raises(ConfigError) as err:
        get_space(f"synthetic:{options}")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_name_round_trips_through_get_space():
    for name in ("synthetic", "synthetic:positions=3,choices=2,seed=4",
                 "synthetic:interactions=1.5"):
        space = get_space(name)
        assert get_space(space.name).name == space.name
