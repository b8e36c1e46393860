"""Where training runs: one object that hides the CPU / CUDA differences from the loops.

On CUDA it turns on mixed precision (``torch.autocast`` with float16 and a ``GradScaler``) and the
channels-last memory layout; on CPU all of that is off and the same code runs unchanged, so
nothing in the loops assumes a GPU.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from nao.errors import ConfigError
from nao.estimator import resolve_device

DEVICES = ("auto", "cpu", "cuda")
AMP_DTYPE = torch.float16


def sgd(params, **options) -> torch.optim.SGD:
    """``torch.optim.SGD`` with its multi-tensor update on every device (``foreach``).

    On the CPU torch defaults to a Python loop of three ops per weight tensor, a few hundred
    ops per step for a supernet; the multi-tensor update computes the same floats (the same
    elementwise ops) in a handful, as it already does by default on CUDA."""
    return torch.optim.SGD(params, foreach=True, **options)


class Runtime:
    """``device`` is ``auto`` (CUDA when visible, else CPU), ``cpu`` or ``cuda``.

    ``threads`` sets torch's CPU threads for the whole process (``None`` leaves torch's choice).
    The networks of these searches are small: on a shared 2-core machine one thread was 100x
    faster per epoch than two fighting other jobs for the cores.
    """

    def __init__(self, device: str = "auto", threads: int | None = None):
        if threads is not None:
            if threads < 1:
                raise ConfigError(f"threads must be at least 1, got {threads}")
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda)

    def autocast(self) -> AbstractContextManager:
        """Mixed precision on CUDA, nothing on CPU."""
        if self.cuda:
            return torch.autocast(device_type="cuda", dtype=AMP_DTYPE)
        return nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.cuda else model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        # images only: channels_last is a 4-D layout (a language model's word ids are 2-D)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda and x.dim() == 4 \
            else x

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
             parameters, grad_clip: float | None) -> None:
        """Backward, unscale, clip the gradient norm, step: the same on both devices."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def __repr__(self) -> str:
        return f"Runtime({self.device}, amp={self.cuda})"
