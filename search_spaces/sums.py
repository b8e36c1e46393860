"""The sum of a network's branch outputs, one addition per extra term."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def add_all(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """``t0 + t1 + ...``, added left to right.

    Python's ``sum`` starts from the integer 0: one more op per call (a kernel launch on a
    GPU, where the cells are bound by launches) and one more autograd node, for nothing."""
    it = iter(terms)
    try:
        total = next(it)
    except StopIteration:
        raise ValueError("add_all needs at least one term") from None
    for term in it:
        total = total + term
    return total
