"""The one interface of ``nao ws``'s searches: check, one epoch, the pick, the checkpoint state.

Every one-shot family runs the same :meth:`OneShotSearch.fit`: check every option before any
data loads, build the task's shared weights (:mod:`.one_shot_tasks`), then run the epochs in
:class:`pipelines.training.epochs.EpochLoop` (restore, checkpoint, progress, history, the wall
clock across a resume; final training runs in the same loop), then pick. What a family adds is
a :class:`OneShotRun`, its state across epochs: one epoch (the shared weights' training through
the family's per-minibatch choice, then whatever it learns), the pick, and the state a
checkpoint holds. The pool family (ENAS, NAO-WS: :mod:`.weight_sharing`) and the relaxed one
(DARTS, SNAS, SF, RELAX, RAM: :mod:`.relaxed_search`) are the two bundled; a method within a
family is one entry of :mod:`.methods`, a new family one subclass of each class here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from search_spaces.base import Arch

from ..training.epochs import EpochLoop, RunRecord, progress_bar
from ..training.lm_train import LMOptions
from ..training.network_options import NetworkOptions
from ..training.runtime import Runtime
from .one_shot_tasks import ImageOneShot, TextOneShot
from .shared_training import SharedWeights

WHAT = "nao ws"
Bar = Callable[[], AbstractContextManager]  # opens the progress bar of an epoch's minibatches


class OneShotRun(ABC):
    """One search's method state beyond the shared weights, for :meth:`OneShotSearch.fit`."""

    def begin(self) -> None:  # noqa: B027 - optional: most families start in their constructor
        """Start a fresh run (no checkpoint was restored)."""

    @abstractmethod
    def epoch(self, epoch: int, bar: Bar) -> tuple[dict, dict]:
        """Train the shared weights one epoch (its minibatches under ``bar()``) and whatever
        the method learns; the log row and the progress bar's postfix."""

    @abstractmethod
    def pick(self) -> list[tuple[Arch, float]]:
        """The final candidates with their scores on the whole validation split, best first."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything an epoch changed (the shared weights' included) for the checkpoint;
        torch's global generators, which the task may draw from, :meth:`OneShotSearch.fit`
        adds."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s checkpoint, exactly."""


class OneShotSearch(ABC):
    """A ``nao ws`` search, scikit-learn style (parameters in the subclass's ``__init__``,
    :meth:`fit` learns, :meth:`result` reports). Subclasses give :meth:`check` (every option,
    before any data; returns what :meth:`_start` needs), :meth:`_config` (what a resume must
    share with the checkpoint) and :meth:`_start` (the family's :class:`OneShotRun`).

    Shared parameters every subclass stores: ``space``, ``controller``, ``epochs``, the
    network's (:meth:`network`), ``eval_batches``, the optimizer's (``lr_max``, ``lr_min``,
    ``momentum``, ``weight_decay``, ``grad_clip``), ``controller_options``, ``device``,
    ``threads``, ``random_state``, ``out_dir``, ``resume``, ``progress``. After :meth:`fit`:
    ``best_arch_``, ``best_valid_``, ``candidates_``, ``history_``, ``supernet_``,
    ``runtime_``, ``wall_s_``."""

    checkpoint_keys: tuple[str, ...] = ()
    valid_batches = False  # whether its epochs draw validation minibatches (the alpha steps)
    pool_size: int | None = None  # a family with a pool stores its size; reported as given

    # ----- what a subclass gives ---------------------------------------------------------------
    @abstractmethod
    def check(self) -> Any:
        """Every option checked before any data loads: a one-line ``ConfigError`` naming the
        bad one, else the plan :meth:`_start` and :meth:`_config` take."""

    @abstractmethod
    def _config(self, data, plan) -> dict:
        """What a resumed run must share with its checkpoint (the device may differ)."""

    @abstractmethod
    def _start(self, plan, data, kit: ImageOneShot | TextOneShot, shared: SharedWeights,
               seed: int) -> OneShotRun:
        """The family's state for this run, built after the shared weights (same seed, same
        draws)."""

    def _fitted(self, run: OneShotRun) -> None:  # noqa: B027 - optional hook
        """Keep what the family learnt as fitted attributes."""

    def _result_extra(self) -> dict:
        """The family's own keys of ``nao ws --json``, after ``candidates``."""
        return {}

    # ----- shared ------------------------------------------------------------------------------
    def network(self) -> NetworkOptions:
        return NetworkOptions(self.channels, self.layers, self.stem_stride, self.batch_size)

    def kit(self) -> ImageOneShot | TextOneShot:
        """What the task changes (:mod:`.one_shot_tasks`)."""
        return ImageOneShot(self.network(), self.eval_batches)

    def _hyper(self) -> dict:
        """The shared weights' optimizer settings, as the kit's ``shared_weights`` takes them."""
        return {"lr_max": self.lr_max, "lr_min": self.lr_min, "momentum": self.momentum,
                "weight_decay": self.weight_decay, "grad_clip": self.grad_clip}

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _common_config(self, data) -> dict:
        """The part of :meth:`_config` every family shares: space, controller, data, seed,
        epochs, the network and the shared weights' optimizer (the task's part from
        :meth:`_task_config`)."""
        return {"space": self.space.name, "controller": self.controller, "data": data.name,
                "seed": self.random_state, "epochs": self.epochs, **self.network().to_dict(),
                "eval_batches": self.eval_batches, "lr_max": self.lr_max, "lr_min": self.lr_min,
                **self._task_config(data), "weight_decay": self.weight_decay,
                "grad_clip": self.grad_clip}

    def _task_config(self, data) -> dict:
        """What only the image task's run must share with its checkpoint: SGD's momentum."""
        return {"momentum": self.momentum}

    def fit(self, data) -> OneShotSearch:
        """Check, train the shared weights with the family's method epoch by epoch (resuming
        from ``out_dir`` when asked), then pick."""
        plan = self.check()
        kit = self.kit()
        task = kit.task(data, valid_batch=self.valid_batches)
        record = RunRecord.open(self.out_dir, self._config(data, plan), self.resume, WHAT,
                                self.checkpoint_keys)
        seed = self._seed()
        runtime = Runtime(self.device, self.threads)
        with kit.seeded(seed, runtime.device):
            shared = kit.shared_weights(self.space, task, runtime, seed, self.epochs,
                                        self._hyper())
            run = self._start(plan, data, kit, shared, seed)
            n_batches = task.n_train_batches(shared.batch_size)

            def one_epoch(epoch: int) -> tuple[dict, dict]:
                return run.epoch(epoch, lambda: progress_bar(
                    self.progress, total=n_batches, unit="batch", leave=False,
                    desc=f"epoch {epoch + 1}/{self.epochs}"))

            def state() -> dict:  # the task's global generators too (text: dropout masks)
                return {**run.state_dict(), **kit.state(runtime.device)}

            def load(state: dict) -> None:
                run.load_state_dict(state)
                kit.load_state(state, runtime.device)

            loop = EpochLoop.with_epoch_bar(record, self.epochs, self.progress,
                                            f"ws {self.controller} on {data.name}")
            if not loop.restore(load):
                run.begin()
            self.history_ = loop.run(one_epoch, state)
            self.candidates_ = run.pick()
        self.best_arch_, self.best_valid_ = self.candidates_[0]
        self.supernet_ = shared.supernet
        self.runtime_ = runtime
        self.wall_s_ = loop.wall_s
        self._fitted(run)
        return self

    def result(self, data) -> dict:
        """The ``nao ws --json`` object; scores under the task's key (``valid`` accuracy, or
        ``valid_ppl`` with ``metric`` perplexity). ``pool_size`` is ``None`` for a family
        without a pool."""
        key = self.kit().score_key
        out = {
            "space": self.space.name, "controller": self.controller, "data": data.summary(),
            "seed": self.random_state, "epochs": self.epochs, **self.network().to_dict(),
            "pool_size": self.pool_size,
            "device": str(self.runtime_.device),
            "best": {"arch": self.space.to_string(self.best_arch_), key: self.best_valid_},
            "candidates": [{"arch": self.space.to_string(a), key: v}
                           for a, v in self.candidates_],
            **self._result_extra(),
            "history": self.history_, "wall_s": round(self.wall_s_, 3),
            "out": None if self.out_dir is None else str(self.out_dir),
        }
        if key != "valid":
            out["metric"] = "perplexity"
        return out


class TextSearch:
    """The text task's side of a search, mixed in before its family's class (``class
    LMRelaxedSearch(TextSearch, RelaxedSearch)``): the language model's network options
    (``hidden``, ``batch_size``, ``bptt``, ``dropouts``), the text kit, and what its run must
    share with a checkpoint (the training words; its optimizer has no momentum)."""

    def network(self) -> LMOptions:
        return LMOptions(self.hidden, self.batch_size, self.bptt, dict(self.dropouts or {}))

    def kit(self) -> TextOneShot:
        return TextOneShot(self.network(), self.eval_batches)

    def _task_config(self, data) -> dict:
        return {"train_tokens": len(data.train)}
