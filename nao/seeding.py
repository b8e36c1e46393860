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
    index = _cuda_index(device)
    cuda = [] if index is None else [index]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def _cuda_index(device: torch.device | str | None) -> int | None:
    """The CUDA device index ``device`` names (the current one for a bare "cuda"); None off
    CUDA."""
    where = torch.device("cpu" if device is None else device)
    if where.type != "cuda":
        return None
    return where.index if where.index is not None else torch.cuda.current_device()


def global_rng_state(device: torch.device | str | None = None) -> dict:
    """Torch's global generators that work on ``device`` draws from, for a checkpoint: the
    CPU's (``torch_rng``) and, on a CUDA device, that device's (``cuda_rng``: dropout and
    drop-path masks drawn on the GPU), so a resumed run draws the masks the uninterrupted one
    would have."""
    state = {"torch_rng": torch.get_rng_state()}
    index = _cuda_index(device)
    if index is not None:
        state["cuda_rng"] = torch.cuda.get_rng_state(index)
    return state


def set_global_rng_state(state: dict, device: torch.device | str | None = None) -> None:
    """What :func:`global_rng_state` saved, put back. A checkpoint made on another device
    kind restores the CPU's generator only (the CUDA one stays as seeded)."""
    torch.set_rng_state(state["torch_rng"])
    index = _cuda_index(device)
    if index is not None and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], index)
