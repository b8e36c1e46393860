"""SearchSpace.distinct / sample_distinct: the one "draw until new" every strategy uses."""

from __future__ import annotations

import numpy as np


def counted(items):
    """``items`` as a generator, and a list whose length is how many were pulled."""
    pulled: list = []

    def gen():
        for item in items:
            pulled.append(item)
            yield item

    return gen(), pulled


def test_distinct_keeps_new_keys_in_order_and_pulls_nothing_after_the_last(cora):
    a, b, c, d = (cora.from_string(s) for s in (
        "0,0,0,0:gcn,gcn,gcn,gcn", "0,0,0,0:gat,gat,gat,gat", "0,0,0,0:gin,gin,gin,gin",
        "0,0,0,0:sage,sage,sage,sage"))
    candidates, pulled = counted([a, None, a, b, c, d])
    assert cora.distinct(candidates, 2, exclude={cora.canonical(b)}) == [a, c]
    assert len(pulled) == 5  # d is never drawn: a sampling generator keeps its rng state


def test_distinct_of_nothing_pulls_nothing(cora):
    candidates, pulled = counted([cora.sample(np.random.default_rng(0))])
    assert cora.distinct(candidates, 0) == [] and pulled == []


def test_sample_distinct_draws_exactly_as_often_as_sampling_until_new(cora):
    fast, slow = np.random.default_rng(3), np.random.default_rng(3)
    got = cora.sample_distinct(40, fast)
    want: list = []
    while len(want) < 40:
        arch = cora.sample(slow)
        if cora.canonical(arch) not in {cora.canonical(w) for w in want}:
            want.append(arch)
    assert got == want
    assert cora.sample(fast) == cora.sample(slow)  # same number of draws taken


def test_sample_distinct_stops_after_max_tries_with_what_it_found(cora):
    got = cora.sample_distinct(5, np.random.default_rng(0), max_tries=3)
    assert 1 <= len(got) <= 3
