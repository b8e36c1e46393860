"""What a network is trained and scored on: data, loss and metric in one object.

The training loops (:func:`pipelines.training.epochs.train_epoch`, the one-shot trainer and the
supernet evaluator) ask the task for minibatches, a loss and a metric instead of assuming image
cross-entropy, so a language-model task (perplexity) plugs into the same loops:
:class:`ImageClassification` (accuracy) and :class:`LanguageModeling` (perplexity). Each says
whether its metric is maximised (``higher_is_better``), so a loop that ranks architectures reads
the direction from the task instead of hiding a sign in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F

from .data import ImageData, Split, batches, n_batches
from .text_data import TextData, batchify, bptt_batches, n_bptt_batches

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


class ScoredTask(Task, Protocol):
    """A task that also says what its metric is called, which way it improves, and how it is
    computed from a pass's summed loss, summed hits and example count."""

    metric_name: str
    higher_is_better: bool

    def metric(self, loss_sum: float, hits: int, count: int) -> float:
        """The metric over a pass (accuracy: ``hits / count``; perplexity: exp of the mean
        loss)."""

    def utility(self, metric: float) -> float:
        """The metric as the "higher is better" score every ranking reads (monotone: the
        identity when ``higher_is_better``, decreasing otherwise)."""


@dataclass
class ImageClassification:
    """Cross-entropy to train on, top-1 accuracy to score with; ``train`` is the split trained
    on (default the training split) and ``cutout`` the square erased from each training image
    (0: none, as the search; the final training uses the data set's)."""

    data: ImageData
    train: Split | None = None
    cutout: int = 0
    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

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

    def metric(self, loss_sum: float, hits: int, count: int) -> float:
        return hits / count

    def utility(self, metric: float) -> float:
        """Accuracy is already "higher is better": the strategies are told it as it is."""
        return metric


REWARD_C = 80.0  # ENAS's controller reward on PTB: c / validation perplexity
BPTT = 35  # ENAS, DARTS and NAO unroll 35 steps on PTB
EVAL_BATCH_SIZE = 10  # streams of a validation / test pass (AWD-LSTM, DARTS)


@dataclass
class LanguageModeling:
    """Next-word prediction on a text corpus: cross-entropy to train on, perplexity (exp of the
    mean cross-entropy per word, lower is better) to score with.

    A minibatch is one BPTT segment: ``x`` is ``seq_len x batch_size`` word ids and the target
    the next word of each, flattened time-major to match the model's flattened logits, so a
    loop's ``len(y)`` counts words. Segments come in text order (not shuffled), since the model
    carries its hidden state from one segment to the next; ``hits`` counts correct top-1 next
    words, so the loops' "metric numerator / examples" is next-word accuracy and
    :meth:`metric` is the perplexity.
    """

    data: TextData
    seq_len: int = BPTT
    eval_batch_size: int = EVAL_BATCH_SIZE
    metric_name: ClassVar[str] = "perplexity"
    higher_is_better: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def vocab_size(self) -> int:
        return self.data.vocab_size

    def n_train_batches(self, batch_size: int) -> int:
        return n_bptt_batches(len(self.data.train) // batch_size, self.seq_len)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Batch]:
        """One epoch of segments in text order; ``generator`` is not drawn from (the order is
        the text's), which keeps the loop's seed handling the same for every task."""
        return bptt_batches(batchify(self.data.train, batch_size), self.seq_len)

    def eval_batches(self, split: str = "valid", batch_size: int | None = None,
                     device: torch.device | str = "cpu") -> Iterator[Batch]:
        """Segments of ``split`` (``valid`` or ``test``) in text order, ``eval_batch_size``
        streams by default."""
        streams = batchify(self.data.split(split), batch_size or self.eval_batch_size)
        return bptt_batches(streams, self.seq_len, device)

    def loss(self, output: torch.Tensor, target: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(output, target, reduction=reduction)

    def hits(self, output: torch.Tensor, target: torch.Tensor) -> int:
        return int((output.argmax(1) == target).sum())

    def metric(self, loss_sum: float, hits: int, count: int) -> float:
        return perplexity(loss_sum / count)

    def utility(self, metric: float) -> float:
        """The one place a perplexity becomes the "higher is better" score that pools, picks
        and strategies rank by: ENAS's reward ``c / ppl`` (:data:`REWARD_C`).

        Why this map and not ``-ppl`` or ``-log ppl``: NAO's targets are rank-scaled, so any
        decreasing map gives NAO the same fit, but REINFORCE uses the reward's size. ``c / ppl``
        is what ENAS's controller was tuned on: positive and bounded (``0 < r <= c``), so its
        moving-average baseline stays on one scale, and a gain at low perplexity counts more
        than the same gain at high perplexity, which is where a search is decided.
        """
        if not math.isfinite(metric):  # a diverged child (NaN / inf perplexity) is the worst
            return 0.0
        return REWARD_C / metric


def perplexity(mean_loss: float) -> float:
    """exp of the mean cross-entropy per word (nats); ``inf`` past what a float holds."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf
