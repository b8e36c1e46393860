"""What a network is trained and scored on: data, loss and metric in one object.

The training loops (:func:`pipelines.training.epochs.train_epoch`, the one-shot trainer and the
supernet evaluator) ask the task for minibatches, a loss and a metric instead of assuming image
cross-entropy, so a language-model task (perplexity) plugs into the same loops. Image
classification is the one task today.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from .data import ImageData, Split, batches, n_batches

Batch = tuple[torch.Tensor, torch.Tensor]


class Task(Protocol):
    """Minibatches of a split, a loss to train on and a metric to score with (higher is better)."""

    name: str

    def n_train_batches(self, batch_size: int) -> int:
        """Full training minibatches per epoch (the last partial one is dropped)."""

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Batch]:
        """One epoch of shuffled, augmented training minibatches."""

    def loss(self, output: torch.Tensor, target: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        """The training loss of a network's output."""

    def hits(self, output: torch.Tensor, target: torch.Tensor) -> int:
        """The metric's numerator on a minibatch; the metric is its sum over examples seen."""


@dataclass
class ImageClassification:
    """Cross-entropy to train on, top-1 accuracy to score with; ``train`` is the split trained
    on (default the training split) and ``cutout`` the square erased from each training image
    (0: none, as the search; the final training uses the data set's)."""

    data: ImageData
    train: Split | None = None
    cutout: int = 0

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def train_split(self) -> Split:
        return self.data.train if self.train is None else self.train

    def n_train_batches(self, batch_size: int) -> int:
        return n_batches(len(self.train_split), batch_size, drop_last=True)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Batch]:
        return batches(self.data, self.train_split, batch_size, shuffle=True, augment=True,
                       cutout=self.cutout, generator=generator, drop_last=True)

    def loss(self, output: torch.Tensor, target: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(output, target, reduction=reduction)

    def hits(self, output: torch.Tensor, target: torch.Tensor) -> int:
        return int((output.argmax(1) == target).sum())
