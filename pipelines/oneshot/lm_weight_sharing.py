"""Weight-sharing search of a recurrent cell for language modelling (ENAS's and NAO-WS's second
task): :class:`WeightSharingSearch`'s loop, controllers and pool policies on a word-level
language-model supernet.

What differs from images, and only that:

- the shared weights train on BPTT segments of the training split in text order, one child per
  segment drawn uniformly from the pool (ENAS samples one architecture per minibatch), with the
  hidden state carried between segments and reset at each epoch start; the optimizer is ENAS's
  for recurrent cells (:func:`pipelines.training.lm_train.lm_optimizer`: SGD at lr 20, gradient
  clipping 0.25);
- the pool is scored by validation perplexity with the shared weights on the first
  ``eval_batches`` segments of the validation split (``batch_size`` streams each, the same
  words for every member and every epoch, so scores are comparable across the run); the final
  candidates are re-scored on the whole validation split, which picks;
- perplexity is minimised: :class:`LMPoolScorer` gives the strategies and the pool's
  survivor choice the task's ``utility`` (ENAS's ``c / ppl``, see
  :meth:`pipelines.training.task.LanguageModeling.utility`), the one place the direction is
  turned, and the log, checkpoint and report carry perplexity itself (``valid_ppl``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nao.errors import ConfigError
from nao.metrics import best_first
from search_spaces import require
from search_spaces.base import Arch, BuildableLM, SearchSpace

from ..search.evaluators import Evaluation, Evaluator
from ..training.epochs import RunRecord
from ..training.lm_eval import evaluate_lm
from ..training.lm_train import GRAD_CLIP, LR, LR_MIN, WEIGHT_DECAY, LMOptions, lm_optimizer
from ..training.runtime import Runtime
from ..training.task import BPTT, LanguageModeling, perplexity
from ..training.text_data import TextData
from .shared_training import SharedWeights
from .weight_sharing import EVAL_BATCHES, FINAL_CANDIDATES, POOL_SIZE, WeightSharingSearch

HIDDEN = 64
BATCH_SIZE = 64
CHECKPOINT_KEYS = ("epoch", "supernet", "optimizer", "scheduler", "scaler", "strategy", "pool",
                   "history", "rng", "train_gen", "torch_rng", "wall_s")


class LMPoolScorer(Evaluator):
    """Validation perplexity of architectures with the supernet's weights; as an
    :class:`Evaluator` it reports the task's utility (higher is better) in ``valid`` and the
    perplexity in ``info["valid_ppl"]``. ``n_batches`` segments of ``batch_size`` streams from
    the start of the validation split (``None``: all of it, ``eval_batch_size`` streams)."""

    def __init__(self, supernet: nn.Module, task: LanguageModeling, runtime: Runtime,
                 batch_size: int | None, n_batches: int | None):
        self.supernet, self.task, self.runtime = supernet, task, runtime
        self.batch_size, self.n_batches = batch_size, n_batches

    def perplexities(self, archs: Sequence[Arch]) -> list[float]:
        return [perplexity(evaluate_lm(self.supernet, self.task, "valid", arch=a,
                                       batch_size=self.batch_size, max_batches=self.n_batches,
                                       device=self.runtime.device).mean_loss) for a in archs]

    def evaluate(self, arch: Arch) -> Evaluation:
        return self.evaluate_many([arch])[0]

    def evaluate_many(self, archs: Sequence[Arch]) -> list[Evaluation]:
        return [Evaluation(valid=self.task.utility(p), info={"valid_ppl": p})
                for p in self.perplexities(archs)]


def lm_final_pick(scorer: LMPoolScorer, pool: Sequence[Arch], candidates: int
                  ) -> list[tuple[Arch, float]]:
    """The pool's best ``candidates`` by ``scorer``, re-scored on the whole validation split;
    ``(arch, valid perplexity)`` best first (ranked by the task's utility)."""
    task = scorer.task
    utilities = [task.utility(p) for p in scorer.perplexities(pool)]
    chosen = [pool[i] for i in best_first(utilities)[:candidates]]
    full = LMPoolScorer(scorer.supernet, task, scorer.runtime, batch_size=None, n_batches=None)
    ppls = full.perplexities(chosen)
    return [(chosen[i], ppls[i]) for i in best_first([task.utility(p) for p in ppls])]


class LMWeightSharingSearch(WeightSharingSearch):
    """ENAS / NAO-WS search of a recurrent cell (``space`` must offer ``build_lm_supernet``).

    The pool parameters, controllers and checkpoint/resume are :class:`WeightSharingSearch`'s;
    the network is :class:`LMOptions` (``hidden``, ``batch_size``, ``bptt``, ``dropouts``) and
    the optimizer :func:`lm_optimizer`'s. After :meth:`fit`: ``best_arch_`` and
    ``best_valid_ppl_`` (whole validation split, shared weights), ``candidates_``,
    ``history_``, ``supernet_``.
    """

    def __init__(self, space: SearchSpace, controller: str = "nao", *, epochs: int = 10,
                 hidden: int = HIDDEN, batch_size: int = BATCH_SIZE, bptt: int = BPTT,
                 dropouts: dict | None = None, pool_size: int = POOL_SIZE,
                 keep: int | None = None, steps: int | None = None, every: int | None = None,
                 eval_batches: int = EVAL_BATCHES, final_candidates: int = FINAL_CANDIDATES,
                 lr_max: float = LR, lr_min: float = LR_MIN, weight_decay: float = WEIGHT_DECAY,
                 grad_clip: float = GRAD_CLIP, controller_options: dict | None = None,
                 device: str = "auto", threads: int | None = None,
                 random_state: int | None = 0, out_dir: str | Path | None = None,
                 resume: bool = False, progress: bool = True):
        super().__init__(space, controller, epochs=epochs, batch_size=batch_size,
                         pool_size=pool_size, keep=keep, steps=steps, every=every,
                         eval_batches=eval_batches, final_candidates=final_candidates,
                         lr_max=lr_max, lr_min=lr_min, momentum=0.0, weight_decay=weight_decay,
                         grad_clip=grad_clip, controller_options=controller_options,
                         device=device, threads=threads, random_state=random_state,
                         out_dir=out_dir, resume=resume, progress=progress)
        self.hidden = hidden
        self.bptt = bptt
        self.dropouts = dropouts

    def network(self) -> LMOptions:
        return LMOptions(self.hidden, self.batch_size, self.bptt, dict(self.dropouts or {}))

    def policy(self):
        if not isinstance(self.space, BuildableLM):
            raise ConfigError(f"space {self.space.name} builds no language models; search it on "
                              "image data (--data digits), or use --space enas-rnn on text")
        return super().policy()

    def _config(self, data: TextData, policy) -> dict:
        config = super()._config(data, policy)
        for key in ("channels", "layers", "stem_stride", "momentum"):
            config.pop(key, None)
        return {**config, "train_tokens": len(data.train)}

    def fit(self, data: TextData) -> LMWeightSharingSearch:
        policy = self.policy()
        require(self.space, BuildableLM, "weight sharing on text (nao ws)")
        options = self.network()
        task = LanguageModeling(data, seq_len=options.bptt)
        task.n_train_batches(options.batch_size)
        record = RunRecord.open(self.out_dir, self._config(data, policy), self.resume,
                                "nao ws", CHECKPOINT_KEYS)
        seed = 0 if self.random_state is None else int(self.random_state)
        runtime = Runtime(self.device, self.threads)
        with torch.random.fork_rng(devices=[]):  # dropout masks: seeded, global state kept
            torch.manual_seed(seed)
            supernet = runtime.prepare(self.space.build_lm_supernet(
                data.vocab_size, options.hidden, options.dropouts))
            optimizer, scheduler = lm_optimizer(supernet, self.epochs, self.lr_max, self.lr_min,
                                                self.weight_decay)
            shared = SharedWeights(supernet, optimizer, scheduler, runtime, task,
                                   options.batch_size, self.grad_clip,
                                   torch.Generator().manual_seed(seed))
            self._loop(data, task, policy, record, shared, runtime, seed)
        self.supernet_ = supernet
        self.runtime_ = runtime
        return self

    # ----- the loop's hooks: perplexity where images have accuracy ------------------------
    def _pool_scorer(self, shared: SharedWeights, data: TextData, task: LanguageModeling,
                     runtime: Runtime, seed: int) -> LMPoolScorer:
        """Scores the pool on the first ``eval_batches`` validation segments (the same words
        every time, so no generator of its own)."""
        return LMPoolScorer(shared.supernet, task, runtime, self.batch_size, self.eval_batches)

    def _scorer_state(self, scorer: LMPoolScorer) -> dict:
        """torch's global random state (the dropout masks, seeded in :meth:`fit`)."""
        return {"torch_rng": torch.get_rng_state()}

    def _load_scorer_state(self, scorer: LMPoolScorer, state: dict) -> None:
        torch.set_rng_state(state["torch_rng"])

    def _train_epoch(self, shared: SharedWeights, choose: Callable[[], Arch],
                     task: LanguageModeling, epoch: int) -> tuple[float, float]:
        """The hidden state starts afresh each epoch; no minibatch bar."""
        shared.supernet.reset_state()
        return shared.train_epoch(choose)

    def _score_pool(self, scorer: LMPoolScorer, task: LanguageModeling, pool: list[Arch]
                    ) -> tuple[list[float], list[float]]:
        """The task's utilities rank (higher is better), the perplexities are logged."""
        ppls = scorer.perplexities(pool)
        return [task.utility(p) for p in ppls], ppls

    def _best_index(self, scores: list[float]) -> int:
        """The first of the highest utilities (a NaN counts as lowest)."""
        return int(best_first(scores)[0])

    def _epoch_metrics(self, loss: float, metric: float, measured: list[float], i: int) -> dict:
        return {"train_ppl": perplexity(loss), "valid_ppl_mean": float(np.mean(measured)),
                "valid_ppl_best": measured[i]}

    def _postfix(self, measured: list[float], i: int) -> dict:
        return {"valid_ppl_best": f"{measured[i]:.1f}"}

    def _final_pick(self, scorer: LMPoolScorer, pool: list[Arch]) -> None:
        """``candidates_`` and the pick (``best_arch_``, ``best_valid_ppl_``)."""
        self.candidates_ = lm_final_pick(scorer, pool, self.final_candidates)
        self.best_arch_, self.best_valid_ppl_ = self.candidates_[0]

    def result(self, data: TextData) -> dict:
        """The ``nao ws --json`` object: perplexities under ``valid_ppl`` (lower is better)."""
        return {
            "space": self.space.name, "controller": self.controller, "data": data.summary(),
            "seed": self.random_state, "epochs": self.epochs, **self.network().to_dict(),
            "pool_size": self.pool_size, "device": str(self.runtime_.device),
            "metric": "perplexity",
            "best": {"arch": self.space.to_string(self.best_arch_),
                     "valid_ppl": self.best_valid_ppl_},
            "candidates": [{"arch": self.space.to_string(a), "valid_ppl": v}
                           for a, v in self.candidates_],
            "history": self.history_, "wall_s": round(self.wall_s_, 3),
            "out": None if self.out_dir is None else str(self.out_dir),
        }
