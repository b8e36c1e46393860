"""Regularized evolution: valid children of tournament winners, a fixed-size aging population."""

from __future__ import annotations

import re

import pytest

from nao.errors import ConfigError
from pipelines.strategies import make_strategy
from pipelines.strategies.evolution import RegularizedEvolution
from search_spaces import get_space

POPULATION = 10


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench-graph:cora")


def _step(strategy, space, n):
    archs = strategy.ask(n)
    strategy.tell(archs, [space.lookup(a).valid for a in archs])
    return archs


def test_children_are_valid_and_population_size_stays_fixed(space):
    evo = RegularizedEvolution(space, random_state=0, population_size=POPULATION, sample_size=3)
    _step(evo, space, POPULATION)
    assert len(evo.population) == POPULATION
    for _ in range(40):
        for child in _step(evo, space, 2):
            assert space.from_tokens(space.to_tokens(child)) == child
        assert len(evo.population) == POPULATION
    assert evo.n_random_fill == 0


def test_oldest_member_leaves_and_child_joins(space):
    evo = RegularizedEvolution(space, random_state=1, population_size=POPULATION, sample_size=3)
    _step(evo, space, POPULATION)
    oldest, second = evo.population[0][0], evo.population[1][0]
    (child,) = _step(evo, space, 1)
    assert evo.population[0][0] == second and evo.population[-1][0] == child
    assert oldest not in [a for a, _ in evo.population]


def test_children_are_mutations_of_population_members(space, monkeypatch):
    evo = RegularizedEvolution(space, random_state=2, population_size=POPULATION, sample_size=3)
    _step(evo, space, POPULATION)
    members = [a for a, _ in evo.population]
    calls: list[tuple] = []
    mutate = space.mutate

    def spy(arch, rng):
        child = mutate(arch, rng)
        calls.append((arch, child))
        return child

    monkeypatch.setattr(space, "mutate", spy)
    children = evo.ask(5)
    assert {space.canonical(c) for c in children} <= {space.canonical(c) for _, c in calls}
    assert all(parent in members for parent, _ in calls)


def test_tournament_of_whole_population_picks_the_best_as_parent(space):
    evo = RegularizedEvolution(space, random_state=3, population_size=POPULATION,
                               sample_size=POPULATION)
    _step(evo, space, POPULATION)
    best = max(evo.population, key=lambda m: m[1])[0]
    assert all(evo._tournament() == best for _ in range(10))


@pytest.mark.parametrize("sample_size", [1, 3])
def test_the_parent_is_the_best_of_sample_size_members_drawn_without_replacement(space,
                                                                                 sample_size):
    """The member of rank r (0 = best) of P wins a tournament of S exactly when it is drawn
    and the r better ones are not: C(P - 1 - r, S - 1) / C(P, S)."""
    from math import comb

    evo = RegularizedEvolution(space, random_state=5, population_size=POPULATION,
                               sample_size=sample_size)
    archs = evo.ask(POPULATION)
    evo.tell(archs, [float(i) for i in range(POPULATION)])  # the last told is the best
    draws = 4000
    wins = [0] * POPULATION
    for _ in range(draws):
        winner = evo._tournament()
        wins[next(i for i, a in enumerate(archs) if a == winner)] += 1
    for rank in range(POPULATION):
        expected = comb(POPULATION - 1 - rank, sample_size - 1) / comb(POPULATION, sample_size)
        share = wins[POPULATION - 1 - rank] / draws
        assert share == pytest.approx(expected, abs=0.03), (rank, share, expected)


def test_ask_is_distinct_and_never_repeats_a_told_architecture(space):
    evo = RegularizedEvolution(space, random_state=4, population_size=POPULATION, sample_size=3)
    told: set = set()
    for _ in range(10):
        archs = _step(evo, space, 8)
        keys = {space.canonical(a) for a in archs}
        assert len(keys) == 8 and not keys & told
        told |= keys


def test_sample_size_larger_than_population_is_a_config_error(space):
    with pytest.raises(ConfigError, match="sample_size"):
        make_strategy("evolution", space, random_state=0, population_size=5, sample_size=6)


def test_a_first_ask_larger_than_the_population_is_all_random(space):
    evo = RegularizedEvolution(space, random_state=6, population_size=5, sample_size=2)
    archs = evo.ask(8)  # nothing told yet: no population to breed from
    assert len({space.canonical(a) for a in archs}) == 8
    assert evo.n_random_fill == 0  # these are the random start, not stand-ins for children
    evo.tell(archs, [float(i) for i in range(8)])
    assert [a for a, _ in evo.population] == archs[3:]  # the newest five


def test_each_child_is_the_first_new_mutation_drawn_for_it(space, monkeypatch):
    """No mutation is drawn and thrown away once a new one is found, so a seed's search
    draws exactly the mutations it uses."""
    evo = RegularizedEvolution(space, random_state=7, population_size=POPULATION, sample_size=3)
    _step(evo, space, POPULATION)
    drawn: list = []
    mutate = space.mutate

    def spy(arch, rng):
        drawn.append(mutate(arch, rng))
        return drawn[-1]

    monkeypatch.setattr(space, "mutate", spy)
    children = evo.ask(6)
    assert children == drawn


def _crowded(monkeypatch):
    """Regularized evolution on a nine-architecture space whose mutations all repeat their
    (told) parent, two architectures told: every child must come from elsewhere."""
    small = get_space("synthetic:positions=2,choices=3")
    evo = RegularizedEvolution(small, random_state=0, population_size=2, sample_size=2,
                               max_mutation_tries=3)
    first = evo.ask(2)
    evo.tell(first, [0.1, 0.2])
    monkeypatch.setattr(small, "mutate", lambda arch, rng: arch)
    return small, evo


def test_when_no_mutation_is_new_a_random_new_architecture_stands_in(monkeypatch):
    small, evo = _crowded(monkeypatch)
    archs = evo.ask(5)
    keys = {small.canonical(a) for a in archs}
    assert len(keys) == 5 and not keys & evo.seen
    assert evo.n_random_fill == 5
    evo.tell(archs, [0.3] * 5)
    # two architectures are left: an ask for more gets those two and stops
    rest = evo.ask(9)
    assert len({small.canonical(a) for a in rest}) == 2
    assert not {small.canonical(a) for a in rest} & evo.seen
    assert evo.n_random_fill == 7


def test_the_count_of_random_stand_ins_survives_a_restore(monkeypatch):
    small, evo = _crowded(monkeypatch)
    evo.tell(archs := evo.ask(3), [0.3] * 3)
    restored = RegularizedEvolution(small, random_state=1, population_size=2, sample_size=2)
    restored.load_state_dict(evo.state_dict())
    assert restored.n_random_fill == evo.n_random_fill == 3
    assert [a for a, _ in restored.population] == archs[1:]


@pytest.mark.parametrize("options, message", [
    ({"population_size": 0}, "population_size must be a whole number >= 1, got 0"),
    ({"sample_size": 0}, "sample_size must be a whole number >= 1 and <= 20, got 0"),
    ({"population_size": 4, "sample_size": 5},
     "sample_size must be a whole number >= 1 and <= 4, got 5"),
    ({"max_mutation_tries": 0},
     "max_mutation_tries must be a whole number >= 1 and <= 100000, got 0"),
    ({"max_mutation_tries": 100_001},
     "max_mutation_tries must be a whole number >= 1 and <= 100000, got 100001"),
])
def test_an_option_out_of_range_is_refused_naming_it_and_its_range(space, options, message):
    with pytest.raises(ConfigError, match=re.escape(f"evolution strategy: {message}")):
        RegularizedEvolution(space, random_state=0, **options)


def test_the_smallest_and_largest_options_are_accepted(space):
    evo = RegularizedEvolution(space, random_state=0, population_size=1, sample_size=1,
                               max_mutation_tries=1)
    assert (evo.population_size, evo.sample_size, evo.max_mutation_tries) == (1, 1, 1)
    evo = RegularizedEvolution(space, random_state=0, max_mutation_tries=100_000)
    assert evo.max_mutation_tries == 100_000
