"""Scoring architectures with the shared weights of a supernet (ENAS, NAO-WS).

An architecture's score is the task's metric (accuracy for image classification) on validation
batches when it runs on the supernet's
weights. Every architecture of one :meth:`SupernetEvaluator.evaluate_many` call sees the same
batches, so scores within a call are comparable; the next call draws new batches (ENAS scores
each controller sample on a fresh validation minibatch), unless ``n_batches`` is ``None``, which
uses the whole validation split in order every time (the final re-scoring).

BatchNorm runs on batch statistics ("train mode"), as in ENAS and NAO-WS: the supernet's
BatchNorm is non-affine and shared by every child, so its running averages mix all children and
describe none of them. The running averages are left untouched while scoring (momentum 0), so
scoring never changes the supernet.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from search_spaces.base import Arch

from ..search.evaluators import Evaluation, Evaluator
from ..training.data import ImageData, Split, batches
from ..training.runtime import Runtime
from ..training.task import ImageClassification, Task

EVAL_BATCHES = 4  # validation minibatches per scoring call during the search


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """BatchNorm normalizes with each batch's statistics without updating running averages;
    the model's mode and momenta are restored afterwards."""
    was_training = model.training
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    counts = [m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
              for m in norms]
    model.train()
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, count in zip(norms, momenta, counts, strict=True):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)
        model.train(was_training)


class SupernetEvaluator(Evaluator):
    """Validation metric with shared weights; ``supernet(x, arch) -> logits``.

    ``n_batches`` minibatches of ``batch_size`` are drawn per call with ``generator`` (``None``:
    the whole validation split). ``task`` gives the loss and metric (default: image
    classification of ``data``).
    """

    def __init__(self, supernet: nn.Module, data: ImageData, split: Split | None = None, *,
                 task: Task | None = None, batch_size: int = 64,
                 n_batches: int | None = EVAL_BATCHES, runtime: Runtime | None = None,
                 generator: torch.Generator | None = None):
        self.supernet = supernet
        self.data = data
        self.task = task if task is not None else ImageClassification(data)
        self.split = split if split is not None else data.valid
        self.batch_size = batch_size
        self.n_batches = n_batches
        self.runtime = runtime or Runtime("cpu")
        self.generator = generator if generator is not None else torch.Generator()

    def _batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        shuffle = self.n_batches is not None
        out = []
        for x, y in batches(self.data, self.split, self.batch_size, shuffle=shuffle,
                            generator=self.generator):
            out.append((self.runtime.inputs(x), y.to(self.runtime.device)))
            if self.n_batches is not None and len(out) >= self.n_batches:
                break
        return out

    def evaluate(self, arch: Arch) -> Evaluation:
        return self.evaluate_many([arch])[0]

    @torch.no_grad()
    def evaluate_many(self, archs: Sequence[Arch]) -> list[Evaluation]:
        fixed = self._batches()
        total = sum(int(y.shape[0]) for _, y in fixed)
        out = []
        with batch_statistics(self.supernet):
            for arch in archs:
                correct, loss = 0, 0.0
                for x, y in fixed:
                    with self.runtime.autocast():
                        logits = self.supernet(x, arch)
                    loss += float(self.task.loss(logits.float(), y, reduction="sum"))
                    correct += self.task.hits(logits, y)
                out.append(Evaluation(valid=correct / total,
                                      info={"loss": loss / total, "images": total}))
        return out
