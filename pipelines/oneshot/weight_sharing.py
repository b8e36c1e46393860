"""Weight-sharing search (ENAS, NAO-WS): one loop for every controller.

The loop keeps a *pool* of architectures. Each epoch it

1. trains the supernet's shared weights on the training split, every minibatch through a child
   drawn uniformly from the pool;
2. scores the pool on validation minibatches with the shared weights
   (:class:`SupernetEvaluator`; logged every epoch);
3. every ``every`` epochs (and at the last) runs ``steps`` controller steps, each: **tell** the
   strategy the pool's scores, **ask** it for newcomers, make the next pool from the ``keep``
   best-scoring members plus the newcomers, and score that pool for the next step.

``--controller`` only picks the strategy (any of the strategy registry from Python); how the pool
turns over follows from what each one is, one row each in :data:`CONTROLLER_TABLE`:

- ``rl`` (ENAS): ``keep = 0``: the pool is always a fresh batch of samples from the controller,
  so every minibatch trains a child the policy sampled, and REINFORCE is only ever told scores of
  its own current samples (on-policy). Several controller steps after every epoch, as ENAS
  alternates shared-weight and controller training.
- ``nao`` (NAO-WS): the best ``keep`` survive and NAO proposes the rest from them as seeds. NAO is
  refitted on the pool's *current* scores only (``fit_on="latest"``), because scores from shared
  weights drift as the weights train and older ones are stale. Fitting NAO takes tens of seconds
  on a CPU, so, as in NAO-WS, the shared weights train for several epochs between its rounds
  (``NAO_ROUNDS`` rounds spread over the run).
- ``random``: the control for NAO: the same pool, survivors and rounds, newcomers drawn
  uniformly.

At the end the final pool is scored once more, its ``final_candidates`` best are re-scored on the
whole validation split, and the best of those is the pick. A checkpoint (supernet, optimizer,
controller, pool, random states, history) is written at every epoch end, so ``resume`` continues
exactly where the run stopped.

This module is the ENAS / NAO-WS family only (:class:`PoolRun`, one epoch of it): the epoch of
shared-weight training, the scoring and the final pick are
:mod:`pipelines.oneshot.shared_training`'s, and the run itself (checks, epochs, checkpoint,
resume, log) is :class:`.one_shot_search.OneShotSearch`'s, which every one-shot family shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from nao.errors import ConfigError
from nao.metrics import best_first
from search_spaces.base import Arch, SearchSpace

from ..options import deep_merge
from ..search.evaluators import Evaluator
from ..strategies import STRATEGIES, check_option_names, make_strategy, option_names
from ..strategies.nao_strategy import LEVERS_OFF
from ..training.data import ImageData
from ..training.network_options import NetworkOptions
from ..training.run_dir import check_resume
from ..training.text_data import TextData
from .one_shot_search import Bar, OneShotRun, OneShotSearch
from .one_shot_tasks import ImageOneShot, TextOneShot
from .shared_training import SharedWeights, score, uniform_choice
from .supernet_evaluator import EVAL_BATCHES

if TYPE_CHECKING:
    from ..training.text_data import TextData

WS_WARM_PATIENCE = 20  # NAO-WS's refits as measured in docs/results.md
# Shared-weight training (ENAS / NAO-WS search): SGD with Nesterov momentum, cosine schedule.
LR_MAX = 0.05
LR_MIN = 0.0005
MOMENTUM = 0.9
WEIGHT_DECAY = 3e-4
GRAD_CLIP = 5.0
# Search sizes, scaled down from the papers' GPU settings for a CPU.
NETWORK = NetworkOptions(channels=16, layers=1, stem_stride=1, batch_size=64)
POOL_SIZE = 20
SURVIVOR_FRACTION = 0.5  # nao / random: the better half of the pool survives each step
RL_STEPS = 3  # ENAS alternates several controller updates with each epoch of shared training
NAO_ROUNDS = 5  # nao / random: pool turnovers spread evenly over the run
FINAL_CANDIDATES = 5
# What a ``nao ws`` checkpoint holds besides its config (a resume refuses a file without them).
CHECKPOINT_KEYS = ("epoch", "supernet", "optimizer", "scheduler", "scaler", "strategy", "pool",
                   "history", "rng", "train_gen", "eval_gen", "wall_s")


@dataclass(frozen=True)
class PoolPolicy:
    """How the pool turns over: every ``every`` epochs, ``steps`` controller steps, after each of
    which the ``keep`` best survive."""

    keep: int
    steps: int
    every: int


def on_policy(pool_size: int, epochs: int) -> PoolPolicy:
    """ENAS: a fresh pool of the controller's samples every epoch, ``RL_STEPS`` updates each."""
    return PoolPolicy(keep=0, steps=RL_STEPS, every=1)


def survivors(pool_size: int, epochs: int) -> PoolPolicy:
    """NAO-WS: the better half survives, ``NAO_ROUNDS`` turnovers spread over the run."""
    return PoolPolicy(keep=max(1, int(pool_size * SURVIVOR_FRACTION)), steps=1,
                      every=max(1, -(-epochs // NAO_ROUNDS)))


def nao_defaults(pool_size: int, keep: int) -> dict:
    """NAO's first round is the initial pool, its rounds are the newcomers, its seeds the
    survivors. NAO-WS keeps the NAO it was measured with (docs/results.md): the search levers
    were chosen on tabular search, where every score is final, not on shared-weight scores that
    drift, so they are off here."""
    return deep_merge(LEVERS_OFF, {"n_init": pool_size, "round_size": pool_size - keep,
                                   "top_k": keep, "fit_on": "latest",
                                   "nao_params": {"warm_patience": WS_WARM_PATIENCE}})


def newcomer_batch(pool_size: int, keep: int) -> dict:
    """A strategy that asks in batches asks for the newcomers at once."""
    return {"batch_size": pool_size - keep}


@dataclass(frozen=True)
class Controller:
    """How a strategy of the registry drives the pool: its default :class:`PoolPolicy`
    (from pool size and epochs), its default options (from pool size and ``keep``), and whether
    it learns on-policy (then no pool member may survive: ``keep`` must be 0)."""

    policy: Callable[[int, int], PoolPolicy] = survivors
    defaults: Callable[[int, int], dict] | None = None
    on_policy: bool = False

    def options(self, name: str, pool_size: int, keep: int) -> dict:
        if self.defaults is not None:
            return self.defaults(pool_size, keep)
        takes_batch = "batch_size" in option_names(STRATEGIES[name].cls)
        return newcomer_batch(pool_size, keep) if takes_batch else {}


# The controller-specific pool policies, in one table. ``--controller`` offers these rows; any
# other strategy of pipelines.strategies.STRATEGIES drives the pool as the default row does.
CONTROLLER_TABLE: dict[str, Controller] = {
    "nao": Controller(survivors, nao_defaults),
    "rl": Controller(on_policy, newcomer_batch, on_policy=True),
    "random": Controller(survivors, newcomer_batch),
}
CONTROLLERS = tuple(CONTROLLER_TABLE)
DEFAULT_CONTROLLER = Controller()


def controller_row(name: str) -> Controller:
    """The table's row for a registered strategy; an unregistered name is a ConfigError."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown controller {name!r}; choose one of {', '.join(CONTROLLERS)} "
                          f"(or another registered strategy: {', '.join(STRATEGIES)})")
    return CONTROLLER_TABLE.get(name, DEFAULT_CONTROLLER)


def pool_policy(controller: str, pool_size: int, epochs: int) -> PoolPolicy:
    return controller_row(controller).policy(pool_size, epochs)


def strategy_defaults(controller: str, pool_size: int, keep: int) -> dict:
    """Strategy options that fit the pool (see :class:`Controller`)."""
    return controller_row(controller).options(controller, pool_size, keep)


class WeightSharingSearch(OneShotSearch):
    """ENAS / NAO-WS search over ``space`` (which must offer ``build_supernet``).

    Parameters are stored as given (scikit-learn convention); after :meth:`fit` the pick is in
    ``best_arch_`` / ``best_valid_``, the per-epoch log in ``history_`` and the trained supernet in
    ``supernet_``. ``keep``, ``steps`` and ``every`` default to the controller's
    :func:`pool_policy`; ``controller_options`` override the strategy's defaults; ``threads`` sets
    torch's CPU threads; ``out_dir`` gets a checkpoint and ``log.csv`` / ``log.jsonl`` every epoch,
    and ``resume`` continues from it.
    """

    checkpoint_keys = CHECKPOINT_KEYS

    def __init__(self, space: SearchSpace, controller: str = "nao", *, epochs: int = 20,
                 channels: int = NETWORK.channels, layers: int = NETWORK.layers,
                 stem_stride: int = NETWORK.stem_stride, batch_size: int = NETWORK.batch_size, pool_size: int = POOL_SIZE,
                 keep: int | None = None, steps: int | None = None,
                 every: int | None = None, eval_batches: int = EVAL_BATCHES,
                 final_candidates: int = FINAL_CANDIDATES,
                 lr_max: float = LR_MAX, lr_min: float = LR_MIN, momentum: float = MOMENTUM,
                 weight_decay: float = WEIGHT_DECAY, grad_clip: float = GRAD_CLIP,
                 controller_options: dict | None = None, device: str = "auto",
                 threads: int | None = None, random_state: int | None = 0,
                 out_dir: str | Path | None = None, resume: bool = False, progress: bool = True):
        self.space = space
        self.controller = controller
        self.epochs = epochs
        self.channels = channels
        self.layers = layers
        self.stem_stride = stem_stride
        self.batch_size = batch_size
        self.pool_size = pool_size
        self.keep = keep
        self.steps = steps
        self.every = every
        self.eval_batches = eval_batches
        self.final_candidates = final_candidates
        self.lr_max = lr_max
        self.lr_min = lr_min
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.controller_options = controller_options
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.out_dir = out_dir
        self.resume = resume
        self.progress = progress

    # ----- set-up ------------------------------------------------------------------------
    def check(self) -> PoolPolicy:
        """Every option checked before any data loads (:meth:`policy`, the controller's
        ``--set`` options included); the pool policy they give."""
        return self.policy()

    def policy(self) -> PoolPolicy:
        """The pool policy these parameters give; bad parameters are a :class:`ConfigError`."""
        self.kit().require_space(self.space)  # a supernet of the task's kind
        row = controller_row(self.controller)
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        self.network().check()
        for name in ("eval_batches", "final_candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.pool_size < 2:
            raise ConfigError(f"pool_size must be at least 2, got {self.pool_size}")
        default = row.policy(self.pool_size, self.epochs)
        keep = default.keep if self.keep is None else self.keep
        steps = default.steps if self.steps is None else self.steps
        every = default.every if self.every is None else self.every
        if not 0 <= keep < self.pool_size or steps < 1 or every < 1:
            raise ConfigError(f"keep must be in 0..pool_size-1 ({self.pool_size - 1}), steps and "
                              f"every at least 1; got keep={keep}, steps={steps}, every={every}")
        if row.on_policy and keep > 0:
            raise ConfigError(f"the {self.controller} controller learns on-policy: keep must be 0")
        check_resume(self.resume, self.out_dir)
        policy = PoolPolicy(keep, steps, every)
        self._make_controller(policy, seed=0)  # bad --set options fail here, before any data
        return policy

    def _make_controller(self, policy: PoolPolicy, seed: int):
        """The controller strategy: the pool defaults under the user's options."""
        options = strategy_defaults(self.controller, self.pool_size, policy.keep)
        options = deep_merge(options, self.controller_options or {})
        check_option_names(self.controller, options)  # random_state=... too
        return make_strategy(self.controller, self.space, random_state=seed, **options)

    def _config(self, data: ImageData, policy: PoolPolicy) -> dict:
        """What a resumed run must share with the checkpoint (the device may differ)."""
        return {**self._common_config(data), "pool_size": self.pool_size, "keep": policy.keep,
                "steps": policy.steps, "every": policy.every,
                "controller_options": self.controller_options or {}}

    # ----- the run -----------------------------------------------------------------------
    def _start(self, policy: PoolPolicy, data: ImageData | TextData,
               kit: ImageOneShot | TextOneShot, shared: SharedWeights, seed: int) -> PoolRun:
        return PoolRun(self, policy, data, kit, shared, seed)

    def _fitted(self, run: PoolRun) -> None:
        self.strategy_ = run.strategy

    def _controller_steps(self, strategy, evaluator: Evaluator, pool: list[Arch],
                          scores: list[float], policy: PoolPolicy) -> list[Arch]:
        """Tell -> ask -> merge ``policy.steps`` times, starting from ``pool`` scored as
        ``scores``; returns the next pool."""
        for step in range(policy.steps):
            if step > 0:
                scores = score(evaluator, pool)
            strategy.tell(pool, scores)
            survivors = [pool[i] for i in best_first(scores)[:policy.keep]]
            pool = survivors + strategy.ask(self.pool_size - len(survivors))
        return pool


class PoolRun(OneShotRun):
    """The pool family's state across epochs: the controller strategy, the pool, which member
    trains each minibatch (``rng``) and the scorer's minibatch draws; one loop for images and
    text, which differ only in ``kit``."""

    def __init__(self, search: WeightSharingSearch, policy: PoolPolicy,
                 data: ImageData | TextData, kit: ImageOneShot | TextOneShot,
                 shared: SharedWeights, seed: int):
        self.search, self.policy, self.kit, self.shared = search, policy, kit, shared
        self.space = search.space
        self.strategy = search._make_controller(policy, seed)
        self.rng = np.random.default_rng(seed)  # which pool member trains on each minibatch
        self.eval_gen = torch.Generator().manual_seed(seed + 1)  # the scorer's minibatch draws
        self.scorer = kit.scorer(shared, data, self.eval_gen)
        self.pool: list[Arch] = []

    def begin(self) -> None:
        self.pool = self.strategy.ask(self.search.pool_size)

    def epoch(self, epoch: int, bar: Bar) -> tuple[dict, dict]:
        shared, kit, key = self.shared, self.kit, self.kit.score_key
        lr = shared.lr
        kit.start_epoch(shared.supernet)
        with bar() as minibatches:
            loss, metric = shared.train_epoch(uniform_choice(self.pool, self.rng), minibatches)
        scored = self.pool
        evaluations = self.scorer.evaluate_many(scored)
        scores = [e.valid for e in evaluations]  # higher is better (the task's utility)
        measured = [kit.reported(e) for e in evaluations]  # what the log shows
        turn = (epoch + 1) % self.policy.every == 0 or epoch + 1 == self.search.epochs
        if turn:
            self.pool = self.search._controller_steps(self.strategy, self.scorer, scored,
                                                      scores, self.policy)
        i = int(best_first(scores)[0])
        row = {"lr": lr, "train_loss": loss, **kit.train_row(loss, metric),
               f"{key}_mean": float(np.mean(measured)), f"{key}_best": float(measured[i]),
               "best_arch": self.space.to_string(scored[i]), "pool": len(scored),
               "controller_step": turn}
        return row, {"loss": f"{loss:.3f}", f"{key}_best": f"{measured[i]:.3f}"}

    def pick(self) -> list[tuple[Arch, float]]:
        return self.kit.final_pick(self.scorer, self.pool, self.search.final_candidates)

    def state_dict(self) -> dict:
        return {**self.shared.state_dict(), "strategy": self.strategy.state_dict(),
                "pool": [self.space.to_string(a) for a in self.pool],
                "rng": self.rng.bit_generator.state,
                **self.kit.scorer_state(self.eval_gen, self.shared.runtime.device)}

    def load_state_dict(self, state: dict) -> None:
        self.shared.load_state_dict(state)
        self.strategy.load_state_dict(state["strategy"])
        self.pool = [self.space.from_string(s) for s in state["pool"]]
        self.rng.bit_generator.state = state["rng"]
        self.kit.load_scorer_state(self.eval_gen, state, self.shared.runtime.device)
