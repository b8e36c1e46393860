"""Torch's global random state seeded for one piece of work, and the caller's state kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_torch(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Torch's CPU generator, and ``device``'s when it is a CUDA device (dropout there draws
    from it), seeded with ``seed`` inside and restored after.

    ``torch.manual_seed`` inside ``torch.random.fork_rng(devices=[])`` would reseed every GPU's
    generator for good, outside the fork: a library call (a NAO fit inside a user's Optuna
    study, say) would change the caller's GPU randomness. Only the generators the work uses are
    seeded here, so a run on one device draws what it drew with ``torch.manual_seed``."""
    where = torch.device("cpu" if device is None else device)
    cuda = []
    if where.type == "cuda":
        cuda = [where.index if where.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
