"""Torch CPU thread count for one block: the small networks of NAO and the RL controller gain
nothing from more threads and stall badly when the cores are shared with other work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (``None``: leave the setting), then restore the
    previous count, also when the block raises."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
