"""Weight-sharing search of a recurrent cell for language modelling (ENAS's and NAO-WS's second
task): :class:`WeightSharingSearch`'s loop, controllers and pool policies on a word-level
language-model supernet, with the text task's network and scoring
(:class:`.one_shot_tasks.TextOneShot`):

- the shared weights train on BPTT segments of the training split in text order, one child per
  segment drawn uniformly from the pool (ENAS samples one architecture per minibatch), with the
  hidden state carried between segments and reset at each epoch start; the optimizer is ENAS's
  for recurrent cells (:func:`pipelines.training.lm_train.lm_optimizer`: SGD at lr 20, gradient
  clipping 0.25);
- the pool is scored by validation perplexity with the shared weights on the first
  ``eval_batches`` segments of the validation split (``batch_size`` streams each, the same
  words for every member and every epoch, so scores are comparable across the run); the final
  candidates are re-scored on the whole validation split, which picks;
- perplexity is minimised: :class:`.one_shot_tasks.LMPoolScorer` gives the strategies and the
  pool's survivor choice the task's ``utility`` (ENAS's ``c / ppl``, see
  :meth:`pipelines.training.task.LanguageModeling.utility`), the one place the direction is
  turned, and the log, checkpoint and report carry perplexity itself (``valid_ppl``).
"""

from __future__ import annotations

from pathlib import Path

from search_spaces.base import SearchSpace

from ..training.lm_train import GRAD_CLIP, LR, LR_MIN, WEIGHT_DECAY
from ..training.task import BPTT
from .one_shot_search import TextSearch
from .one_shot_tasks import LMPoolScorer, lm_final_pick
from .weight_sharing import EVAL_BATCHES, FINAL_CANDIDATES, POOL_SIZE, WeightSharingSearch

__all__ = ["LMPoolScorer", "LMWeightSharingSearch", "lm_final_pick"]

HIDDEN = 64
BATCH_SIZE = 64
CHECKPOINT_KEYS = ("epoch", "supernet", "optimizer", "scheduler", "scaler", "strategy", "pool",
                   "history", "rng", "train_gen", "torch_rng", "wall_s")


class LMWeightSharingSearch(TextSearch, WeightSharingSearch):
    """ENAS / NAO-WS search of a recurrent cell (``space`` must offer ``build_lm_supernet``).

    The pool parameters, controllers and checkpoint/resume are :class:`WeightSharingSearch`'s;
    the network is :class:`LMOptions` (``hidden``, ``batch_size``, ``bptt``, ``dropouts``) and
    the optimizer :func:`pipelines.training.lm_train.lm_optimizer`'s. After :meth:`fit`: ``best_arch_`` and
    ``best_valid_ppl_`` (whole validation split, shared weights), ``candidates_``,
    ``history_``, ``supernet_``.
    """

    checkpoint_keys = CHECKPOINT_KEYS

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

    @property
    def best_valid_ppl_(self) -> float:
        """The pick's validation perplexity (``best_valid_`` in the text task's metric)."""
        return self.best_valid_
