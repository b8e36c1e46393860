"""The pieces every one-shot method trains with, so that a new method (DARTS, SNAS, ENAS macro,
a recurrent cell) writes only what is its own:

- :class:`SharedWeights`: a supernet, its SGD (Nesterov) optimizer, cosine schedule and minibatch
  order; :meth:`SharedWeights.train_epoch` runs one epoch of shared-weight training where a
  ``choose()`` callable gives each minibatch's architecture (ENAS, NAO-WS) or op weights (DARTS,
  SNAS), and its state dict is what a checkpoint keeps of it;
- :func:`score` and :func:`final_pick`: a pool scored with the shared weights, and the best few
  re-scored on the whole validation split;
- checkpoint, resume and the per-epoch log come from :class:`pipelines.training.epochs.RunRecord`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nao.metrics import best_first
from nao.seeding import seeded_torch
from search_spaces.base import Arch, Buildable

from ..training.epochs import train_epoch
from ..training.network_options import NetworkOptions
from ..training.runtime import Runtime, sgd
from ..training.task import ImageClassification
from .supernet_evaluator import SupernetEvaluator

# the keys of a checkpoint that SharedWeights.state_dict fills
STATE_KEYS = ("supernet", "optimizer", "scheduler", "scaler", "train_gen")


def build_supernet(space: Buildable, net: NetworkOptions, task: ImageClassification, seed: int,
                   runtime: Runtime) -> nn.Module:
    """The space's supernet, its initial weights fixed by ``seed`` alone (torch's global random
    state is left as it was)."""
    data = task.data
    with seeded_torch(seed):  # built on the CPU
        supernet = space.build_supernet(net.channels, data.num_classes, net.layers,
                                        data.in_channels, net.stem_stride)
    return runtime.prepare(supernet)


@dataclass
class SharedWeights:
    """The shared weights and everything that trains them; ``generator`` orders the minibatches."""

    supernet: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    runtime: Runtime
    task: ImageClassification
    batch_size: int
    grad_clip: float | None
    generator: torch.Generator

    @classmethod
    def sgd(cls, supernet: nn.Module, task: ImageClassification, runtime: Runtime, *,
            epochs: int, batch_size: int, lr_max: float, lr_min: float, momentum: float,
            weight_decay: float, grad_clip: float | None, seed: int) -> SharedWeights:
        """SGD with Nesterov momentum on a cosine schedule over ``epochs`` (ENAS, NAO-WS)."""
        optimizer = sgd(supernet.parameters(), lr=lr_max, momentum=momentum, nesterov=True,
                        weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                               eta_min=lr_min)
        return cls(supernet, optimizer, scheduler, runtime, task, batch_size, grad_clip,
                   torch.Generator().manual_seed(seed))

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def train_epoch(self, choose: Callable[[], Any], bar=None,
                    before: Callable[[Any, Any], None] | None = None) -> tuple[float, float]:
        """One epoch, minibatch ``k`` through ``supernet(x, choose())`` (after ``before(x, y)``:
        a relaxed method's architecture step), then a schedule step; the mean training loss
        and metric."""
        out = train_epoch(self.supernet, self.task, self.optimizer, self.runtime,
                          batch_size=self.batch_size, generator=self.generator,
                          grad_clip=self.grad_clip, choose=choose, bar=bar, before=before)
        self.scheduler.step()
        return out

    def state_dict(self) -> dict:
        return {"supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.runtime.scaler.state_dict(), "train_gen": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.runtime.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["train_gen"])


def uniform_choice(pool: Sequence[Arch], rng: np.random.Generator) -> Callable[[], Arch]:
    """ENAS / NAO-WS's ``choose``: a pool member drawn uniformly for every minibatch."""
    return lambda: pool[int(rng.integers(len(pool)))]


def score(evaluator: SupernetEvaluator, pool: Sequence[Arch]) -> list[float]:
    """The pool's validation scores with the shared weights (the same batches for all)."""
    return [e.valid for e in evaluator.evaluate_many(pool)]


def final_pick(evaluator: SupernetEvaluator, pool: Sequence[Arch],
               candidates: int) -> list[tuple[Arch, float]]:
    """The pool's best ``candidates`` by ``evaluator``, re-scored on the whole validation split,
    best first."""
    scores = score(evaluator, pool)
    chosen = [pool[i] for i in best_first(scores)[:candidates]]
    full = SupernetEvaluator(evaluator.supernet, evaluator.data, task=evaluator.task,
                             batch_size=evaluator.batch_size, n_batches=None,
                             runtime=evaluator.runtime)
    rescored = score(full, chosen)
    return [(chosen[i], rescored[i]) for i in best_first(rescored)]
