"""The epoch loop's scaffolding, shared by the final training and every one-shot trainer.

- :class:`RunRecord`: the run directory side of a loop: the checkpoint a resumed run restores
  from, and a checkpoint + ``log.csv`` / ``log.jsonl`` written at every epoch end;
- :class:`EpochLoop`: restore, the wall clock across a resume, a history row and a checkpoint
  per epoch, the epoch bar;
- :func:`train_epoch`: one pass over a task's training minibatches, where ``choose`` says which
  architecture (or which op weights) each minibatch runs through;
- :func:`progress_bar`: a tqdm bar on stderr, plain lines when it is not a terminal, off with
  ``--quiet``.

Each loop keeps only what is its own: what it builds, what its checkpoint holds, what it logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..progress import progress
from .run_dir import check_resume, prepare_run_dir
from .run_files import open_run_dir, restoring, save_checkpoint, write_log
from .runtime import Runtime
from .task import Task


def progress_bar(enabled: bool, **kwargs):
    """Progress on stderr (stdout stays clean for ``--json``): a tqdm bar on a terminal, plain
    lines elsewhere (:func:`pipelines.progress.progress`); disabled, it writes nothing."""
    return progress(enabled, **kwargs)


@dataclass
class RunRecord:
    """Resume from and checkpoint into ``out_dir`` (``None``: nothing is written).

    ``state`` is the checkpoint a resumed run continues from (``None`` for a fresh run); a
    checkpoint always holds ``config``, ``epoch`` and ``history`` besides the loop's own keys.
    """

    out_dir: Path | None
    config: dict
    what: str
    state: dict | None = None

    @classmethod
    def open(cls, out_dir: str | Path | None, config: dict, resume: bool, what: str,
             keys: tuple[str, ...]) -> RunRecord:
        """Check ``--resume`` / ``--out``, prepare the directory and read the checkpoint to
        continue from (one-line errors for a bad directory, checkpoint or configuration)."""
        check_resume(resume, out_dir)
        state = None
        if out_dir is not None:
            prepare_run_dir(out_dir)
            state = open_run_dir(out_dir, config, resume, what, keys)
        return cls(None if out_dir is None else Path(out_dir), config, what, state)

    @property
    def start_epoch(self) -> int:
        return 0 if self.state is None else int(self.state["epoch"])

    def history(self) -> list[dict]:
        return [] if self.state is None else list(self.state["history"])

    def restore(self, load: Callable[[dict], None]) -> bool:
        """Run ``load(checkpoint)`` on a resumed run, a checkpoint that does not fit being the
        one-line error; ``False`` (and nothing run) on a fresh one."""
        if self.state is None:
            return False
        with restoring(self.out_dir, self.what):
            load(self.state)
        return True

    def end_epoch(self, epoch: int, history: list[dict], state: Callable[[], dict]) -> None:
        """Checkpoint (``state()`` is only built when there is a directory) and log."""
        if self.out_dir is None:
            return
        save_checkpoint(self.out_dir, {"config": self.config, "epoch": epoch,
                                       "history": history, **state()})
        write_log(self.out_dir, history)


class EpochLoop:
    """The loop every trainer runs epoch by epoch: restore from the record, the wall clock kept
    across a resume (``wall_s`` in every checkpoint), one history row and one checkpoint at each
    epoch end, and the epoch bar. The trainer gives what is its own: the epoch's work and row
    (``one_epoch``), and its checkpoint state.

        loop = EpochLoop(record, epochs, bar)
        loop.restore(load)                    # False on a fresh run
        history = loop.run(one_epoch, state)  # one_epoch(epoch) -> (row, postfix)
        loop.wall_s                           # the whole run's, resumed parts included
    """

    def __init__(self, record: RunRecord, epochs: int, bar, *, bar_counts_epochs: bool = True,
                 started: float | None = None):
        """``bar_counts_epochs`` False: the bar counts minibatches (``train_epoch`` advances it)
        and the loop only shows the postfix. ``started``: when the run's clock started
        (``time.perf_counter()``; default: when :meth:`run` starts), so set-up can count."""
        self.record, self.epochs, self.bar = record, epochs, bar
        self.bar_counts_epochs = bar_counts_epochs
        self.wall_before = 0.0
        self.started: float | None = started

    @classmethod
    def with_epoch_bar(cls, record: RunRecord, epochs: int, enabled: bool,
                       desc: str) -> EpochLoop:
        """The loop with a bar of its epochs (from the record's next one), as the one-shot
        searches and text training show."""
        return cls(record, epochs, progress_bar(enabled, total=epochs,
                                                initial=record.start_epoch, unit="epoch",
                                                desc=desc))

    def restore(self, load: Callable[[dict], None]) -> bool:
        """``load`` the checkpoint of a resumed run (and its wall clock); ``False`` on a fresh
        run."""
        def load_with_clock(state: dict) -> None:
            load(state)
            self.wall_before = float(state["wall_s"])

        return self.record.restore(load_with_clock)

    @property
    def wall_s(self) -> float:
        """Seconds of this run so far, the interrupted parts before a resume included."""
        running = 0.0 if self.started is None else time.perf_counter() - self.started
        return self.wall_before + running

    def run(self, one_epoch: Callable[[int], tuple[dict, dict]],
            state: Callable[[], dict]) -> list[dict]:
        """Epochs from the record's next one to the last: ``one_epoch(epoch)`` gives the row's
        own fields and the bar's postfix; the row gets ``epoch`` first and ``epoch_s`` and
        ``wall_s`` last, and ``state()`` (with ``wall_s``) is checkpointed with the history."""
        history = self.record.history()
        if self.started is None:
            self.started = time.perf_counter()
        try:
            for epoch in range(self.record.start_epoch, self.epochs):
                tick = time.perf_counter()
                row, postfix = one_epoch(epoch)
                wall = self.wall_s
                history.append({"epoch": epoch + 1, **row,
                                "epoch_s": round(time.perf_counter() - tick, 3),
                                "wall_s": round(wall, 3)})
                self.record.end_epoch(epoch + 1, history, lambda wall=wall: {
                    **state(), "wall_s": wall})
                self.bar.set_postfix(**postfix, refresh=False)
                if self.bar_counts_epochs:
                    self.bar.update(1)
        finally:
            self.bar.close()
        return history


def default_loss(task: Task) -> Callable[[Any, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The output is the logits; the loss is the task's."""
    return lambda output, y: (output, task.loss(output, y))


def train_epoch(model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                runtime: Runtime, *, batch_size: int, generator: torch.Generator,
                grad_clip: float | None, choose: Callable[[], Any] | None = None,
                loss: Callable[[Any, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
                | None = None, bar=None,
                before: Callable[[torch.Tensor, torch.Tensor], None] | None = None
                ) -> tuple[float, float]:
    """One pass over ``task``'s training minibatches; the mean loss and metric.

    With ``choose`` each minibatch runs ``model(x, choose())`` (a one-shot supernet: a discrete
    architecture for ENAS / NAO-WS, op weights for DARTS / SNAS), without it ``model(x)``.
    ``loss(output, y) -> (logits, loss)`` turns the output into what the metric reads and the
    loss to train on (an auxiliary head adds its term there); by default the task's loss.
    ``bar`` is advanced once per minibatch. ``before(x, y)`` runs on each minibatch (on the
    device) before its choice is drawn: the architecture step of the relaxed methods, which
    alternate it with the weight step.
    """
    loss = loss or default_loss(task)
    model.train()
    total, hits, seen = 0.0, 0, 0
    for x, y in task.train_batches(batch_size, generator):
        x, y = runtime.inputs(x), y.to(runtime.device)
        if before is not None:
            before(x, y)
        choice = choose() if choose is not None else None
        with runtime.autocast():
            output = model(x) if choose is None else model(x, choice)
            logits, value = loss(output, y)
        runtime.step(value, optimizer, model.parameters(), grad_clip)
        total += float(value.detach()) * len(y)
        hits += task.hits(logits, y)
        seen += len(y)
        if bar is not None:
            bar.set_postfix(loss=f"{float(value.detach()):.3f}", refresh=False)
            bar.update(1)
    return total / seen, hits / seen
