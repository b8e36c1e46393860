"""One evaluation pass of a language model over a split, the one thing a final test score, a
per-epoch validation score and a supernet scoring an architecture all need.

The pass starts from a zero hidden state (so a score does not depend on what ran before),
carries the state across the split's BPTT segments in text order, and sums the loss, the hits
and the word count; the task turns them into its metric (perplexity). ``max_batches`` scores
on the first segments only, as ENAS rewards its controller on one validation minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

import torch
from torch import nn

from .task import LanguageModeling


@dataclass(frozen=True)
class LMScore:
    """Summed cross-entropy (nats), correct next words and words scored in one pass."""

    loss_sum: float
    hits: int
    count: int

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.count


def evaluate_lm(model: nn.Module, task: LanguageModeling, split: str = "valid", arch=None,
                batch_size: int | None = None, max_batches: int | None = None,
                device: torch.device | str = "cpu") -> LMScore:
    """Score ``model`` (``model(x)``, or ``model(x, arch)`` for a supernet) on ``split``; the
    model is left in the mode it came in, with its hidden-state carry cleared."""
    was_training = model.training
    model.eval()
    model.reset_state()
    loss_sum, hits, count = 0.0, 0, 0
    try:
        with torch.no_grad():
            for x, y in islice(task.eval_batches(split, batch_size, device), max_batches):
                logits = model(x) if arch is None else model(x, arch)
                loss_sum += float(task.loss(logits.float(), y, reduction="sum"))
                hits += task.hits(logits, y)
                count += len(y)
    finally:
        model.reset_state()
        model.train(was_training)
    return LMScore(loss_sum, hits, count)
