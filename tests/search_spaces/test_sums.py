"""add_all: a left-to-right sum with one addition per extra term, without sum()'s leading 0."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from search_spaces.sums import add_all


def test_one_addition_per_extra_term_and_none_for_a_single_term():
    terms = [torch.randn(4, requires_grad=True) for _ in range(3)]
    assert add_all(terms[:1]) is terms[0]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        total = add_all(iter(terms))  # a generator, as the cells pass it
    adds = [e for e in prof.events() if e.name.startswith("aten::add")]
    assert len(adds) == 2 and torch.equal(total, terms[0] + terms[1] + terms[2])


def test_adds_left_to_right():
    big, minus_big, one = (torch.tensor([v], dtype=torch.float32) for v in (1e8, -1e8, 1.0))
    assert add_all([big, minus_big, one]).item() == 1.0  # big + (minus_big + one) is 0 in fp32


def test_negative_zeros_stay_negative():
    zero = torch.tensor([-0.0])
    assert torch.signbit(add_all([zero, zero])).item()  # sum() gives +0.0 (0 + -0.0)


def test_no_terms_is_refused():
    with pytest.raises(ValueError, match="at least one term"):
        add_all([])
