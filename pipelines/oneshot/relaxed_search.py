"""The relaxed controllers of ``nao ws`` (DARTS, SNAS, SF, RELAX, RAM): architecture parameters
``alpha`` learnt by gradient, next to the pool-based ENAS / NAO-WS driver.

Every training minibatch, as DARTS alternates them:

1. **alpha step** on a validation minibatch: the method's alpha-gradient
   (:mod:`.gradient_estimators`) on the supernet's loss there, then Adam on ``alpha``
   (DARTS's betas (0.5, 0.999) and weight decay 1e-3);
2. **weight step** on the training minibatch through what the method trains on: the softmax mix
   (darts), a Gumbel-softmax sample (snas), or a discrete sample of ``p_alpha`` (sf, relax, ram;
   as ENAS trains its controller's samples).

``warmup_epochs`` first epochs train the weights only (on the same choices). Alpha steps run
the supernet with each batch's own BatchNorm statistics and leave the running averages alone,
as the scoring does, so they never change the shared weights. Logged per epoch (``log.csv`` /
``log.jsonl`` through :class:`RunRecord`): the entropy of the architecture distribution (nats),
the derived architecture and its validation accuracy with the shared weights, the mean accuracy
of a few samples, the mean alpha-step loss and what the method adds (temperature, baseline, ...).
A checkpoint at every epoch end holds the weights, ``alpha``, both optimizers, the method's
state and every random generator, so a resumed run ends with the same ``alpha`` and pick as an
uninterrupted one. At the end the derived architecture (the mode of ``p_alpha``; DARTS's top-2
inputs rule for darts) is scored on the whole validation split.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

from nao.errors import ConfigError
from nao.validation import check_float, check_int, check_options
from search_spaces.base import Arch, SearchSpace

from ..training.lm_train import GRAD_CLIP as LM_GRAD_CLIP
from ..training.lm_train import LR as LM_LR
from ..training.lm_train import LR_MIN as LM_LR_MIN
from ..training.lm_train import WEIGHT_DECAY as LM_WEIGHT_DECAY
from ..training.run_dir import check_resume
from ..training.runtime import Runtime
from ..training.task import BPTT
from .arch_params import ArchParams
from .gradient_estimators import Estimator
from .lm_weight_sharing import BATCH_SIZE as LM_BATCH_SIZE
from .lm_weight_sharing import HIDDEN as LM_HIDDEN
from .methods import METHODS, RELAXED, method_for, names
from .one_shot_search import Bar, OneShotRun, OneShotSearch, TextSearch
from .one_shot_tasks import GLOBAL_RNG, ImageOneShot, TextOneShot
from .shared_training import SharedWeights
from .supernet_evaluator import EVAL_BATCHES, batch_statistics
from .weight_sharing import (
    GRAD_CLIP,
    LR_MAX,
    LR_MIN,
    MOMENTUM,
    NETWORK,
    WEIGHT_DECAY,
)

RELAXED_CONTROLLERS = names(RELAXED)  # darts, snas, sf, relax, ram: one estimator each
# Adam on alpha: DARTS's betas and weight decay. Its learning rate, 3e-4, is for ~20,000 alpha
# steps (50 epochs of 391 on CIFAR-10); a 20-epoch search on digits takes 320 (16 per epoch), at
# which 3e-3 left the entropy of sf within 0.1 nats of uniform. 0.02 is DARTS's rate scaled by
# the step count.
ARCH_LR = 0.02
ARCH_BETAS = (0.5, 0.999)
ARCH_WEIGHT_DECAY = 1e-3
WARMUP_EPOCHS = 0
LOG_SAMPLES = 4  # sampled architectures scored per epoch for the log
SHARED_OPTIONS = ("arch_lr", "arch_weight_decay", "warmup_epochs")
CHECKPOINT_KEYS = ("epoch", "supernet", "optimizer", "scheduler", "scaler", "train_gen", "alpha",
                   "arch_optimizer", "estimator", "sample_gen", "valid_gen", "eval_gen",
                   "log_gen", "history", "wall_s")


def relaxed_method(name: str):
    """The relaxed method ``name`` of :data:`.methods.METHODS` (a plugin's too), or a one-line
    :class:`ConfigError`."""
    if name not in METHODS or METHODS[name].family != RELAXED:
        raise ConfigError(f"unknown relaxed controller {name!r}; choose one of "
                          f"{', '.join(RELAXED_CONTROLLERS)} (or an installed relaxed plugin)")
    return METHODS[name]


def estimator_options(name: str) -> tuple[str, ...]:
    """The options a method takes (its class's ``__init__`` arguments but the seed)."""
    signature = inspect.signature(relaxed_method(name).estimator_class().__init__)
    return tuple(p for p in signature.parameters if p not in ("self", "seed"))


def split_options(controller: str, options: dict | None) -> tuple[dict, dict]:
    """``--set`` options of a relaxed controller as (shared, method) options. The method's own
    may be given bare (``order=2``) or under its name (``darts.order=2``)."""
    options = dict(options or {})
    own = estimator_options(controller)
    nested = options.pop(controller, {})
    check_options(controller, controller, nested, own)
    accepted = (*SHARED_OPTIONS, *own)
    check_options("nao ws", "--set", options, accepted + (controller,))
    shared = {k: v for k, v in options.items() if k in SHARED_OPTIONS}
    method = {**{k: v for k, v in options.items() if k in own}, **nested}
    return shared, method


class SupernetObjective:
    """The supernet's loss on one validation minibatch (see :class:`Objective`): discrete
    architectures by index, or a relaxed weight table through the mixed path; ``train`` is
    the training minibatch a second-order DARTS step unrolls on."""

    def __init__(self, supernet, params: ArchParams, relaxation,
                 task, runtime: Runtime, valid: tuple, train: tuple | None = None,
                 lr: float = 0.0, weight_decay: float = 0.0, forward=None):
        self.supernet, self.params, self.relaxation = supernet, params, relaxation
        self.task, self.runtime = task, runtime
        # supernet(x, choice) -> logits; a task may run it otherwise (text: from a zero state)
        self.forward = forward or (lambda model, x, choice: model(x, choice))
        self.valid, self.train = valid, train
        self.lr, self.weight_decay = lr, weight_decay

    def _loss(self, choice, batch) -> torch.Tensor:
        x, y = batch
        with self.runtime.autocast():
            logits = self.forward(self.supernet, x, choice)
        return self.task.loss(logits.float(), y)

    @torch.no_grad()
    def loss(self, index: torch.Tensor) -> float:
        with batch_statistics(self.supernet):
            return float(self._loss(self.params.to_arch(index), self.valid))

    def relaxed_loss(self, weights: torch.Tensor) -> torch.Tensor:
        with batch_statistics(self.supernet):
            return self._loss(self.relaxation.op_weights(weights), self.valid)

    def second_order_grad(self, params: ArchParams, xi: float) -> tuple[torch.Tensor, float]:
        """DARTS's unrolled gradient: ``w' = w - xi (grad_w L_train + wd w)``, then
        ``grad_alpha L_val(w', alpha) - xi (grad_alpha L_train(w+) - grad_alpha L_train(w-))
        / 2 eps`` with ``w+- = w +- eps grad_w' L_val``, ``eps = 0.01 / |grad_w' L_val|``;
        ``xi`` 0 takes the weights' learning rate. The weights are restored afterwards."""
        xi = xi or self.lr
        weights = [p for p in self.supernet.parameters() if p.requires_grad]
        saved = [w.detach().clone() for w in weights]
        with batch_statistics(self.supernet):
            mix = self.relaxation.op_weights(params.probs().detach())
            grads = torch.autograd.grad(self._loss(mix, self.train), weights, allow_unused=True)
            with torch.no_grad():
                for w, g in zip(weights, grads, strict=True):
                    w.sub_(xi * ((0 if g is None else g) + self.weight_decay * w))
            val = self._loss(self.relaxation.op_weights(params.probs()), self.valid)
            d_alpha, *d_w = torch.autograd.grad(val, [params.alpha, *weights], allow_unused=True)
            d_w = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, d_w,
                                                                         strict=True)]
            eps = 0.01 / float(torch.sqrt(sum((g ** 2).sum() for g in d_w)).clamp_min(1e-12))
            hessian = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for w, s, g in zip(weights, saved, d_w, strict=True):
                        w.copy_(s + sign * eps * g)
                loss = self._loss(self.relaxation.op_weights(params.probs()), self.train)
                hessian.append(torch.autograd.grad(loss, params.alpha)[0])
        with torch.no_grad():
            for w, s in zip(weights, saved, strict=True):
                w.copy_(s)
        return d_alpha - xi * (hessian[0] - hessian[1]) / (2 * eps), float(val.detach())


class RelaxedSearch(OneShotSearch):
    """``nao ws --controller darts|snas|sf|relax|ram``; scikit-learn style: parameters in
    ``__init__``, :meth:`fit` learns ``alpha`` and the shared weights, then ``best_arch_``,
    ``best_valid_``, ``history_``, ``params_`` (the :class:`ArchParams`). ``controller_options``
    are the ``--set`` options (:func:`split_options`)."""

    checkpoint_keys = CHECKPOINT_KEYS
    valid_batches = True  # each alpha step reads a validation minibatch

    def __init__(self, space: SearchSpace, controller: str = "darts", *, epochs: int = 20,
                 channels: int = NETWORK.channels, layers: int = NETWORK.layers,
                 stem_stride: int = NETWORK.stem_stride, batch_size: int = NETWORK.batch_size,
                 eval_batches: int = EVAL_BATCHES, lr_max: float = LR_MAX,
                 lr_min: float = LR_MIN, momentum: float = MOMENTUM,
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
        self.eval_batches = eval_batches
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

    # ----- set-up ------------------------------------------------------------------------------
    def check(self) -> tuple[dict, Estimator]:
        """The shared options and the method, or a one-line :class:`ConfigError` for a bad
        option, before any data is loaded."""
        relaxed_method(self.controller)
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.eval_batches < 1:
            raise ConfigError(f"eval_batches must be at least 1, got {self.eval_batches}")
        self.network().check()
        check_resume(self.resume, self.out_dir)
        shared, method = split_options(self.controller, self.controller_options)
        shared = {"arch_lr": ARCH_LR, "arch_weight_decay": ARCH_WEIGHT_DECAY,
                  "warmup_epochs": WARMUP_EPOCHS, **shared}
        check_float("nao ws", "arch_lr", shared["arch_lr"], low=0.0, low_open=True)
        check_float("nao ws", "arch_weight_decay", shared["arch_weight_decay"], low=0.0)
        check_int("nao ws", "warmup_epochs", shared["warmup_epochs"], low=0,
                  high=self.epochs - 1)
        estimator = self._estimator(method)
        kit = self.kit()
        method_for(self.controller, self.space, kit.name)  # what it needs of the space
        kit.require_space(self.space)
        return shared, estimator

    def _estimator(self, method: dict) -> Estimator:
        cls = relaxed_method(self.controller).estimator_class()
        extra = {"seed": self._seed()} if "seed" in inspect.signature(cls.__init__).parameters \
            else {}
        return cls(**method, **extra)

    def _options(self, shared: dict) -> dict:
        """Every option the run uses: ``shared`` (:meth:`check`'s, defaults filled in) and the
        method's own."""
        _, method = split_options(self.controller, self.controller_options)
        return {**shared, **method}

    def _config(self, data, plan: tuple[dict, Estimator]) -> dict:
        return {**self._common_config(data), "controller_options": self._options(plan[0])}

    # ----- the run -------------------------------------------------------------------------
    def _start(self, plan: tuple[dict, Estimator], data, kit: ImageOneShot | TextOneShot,
               shared: SharedWeights, seed: int) -> RelaxedRun:
        return RelaxedRun(self, plan, data, kit, shared, seed)

    def _fitted(self, run: RelaxedRun) -> None:
        self.options_ = self._options(run.options)
        self.params_ = run.params
        self.estimator_ = run.estimator

    def _result_extra(self) -> dict:
        """The final entropy and the options used (there is no pool: ``pool_size`` is
        ``None``)."""
        return {"entropy": float(self.params_.entropy().detach()), "options": self.options_}


class RelaxedRun(OneShotRun):
    """The relaxed family's state across epochs: ``alpha`` (:class:`ArchParams`, on the CPU on
    every device: a table of a few hundred numbers sampled with CPU generators, so a GPU makes
    the same draws; its op weights move to the supernet's device), its Adam, the method's
    estimator and four generators (samples, validation minibatches, scoring, the log's
    samples)."""

    def __init__(self, search: RelaxedSearch, plan: tuple[dict, Estimator], data,
                 kit: ImageOneShot | TextOneShot, shared: SharedWeights, seed: int):
        self.options, self.estimator = plan
        self.search, self.kit, self.shared = search, kit, shared
        self.space = search.space
        self.params = ArchParams(self.space)
        self.relaxation = (self.space.relaxation(self.params)
                           if self.estimator.needs_relaxation else None)
        self.estimator.bind(self.params)
        self.arch_optimizer = torch.optim.Adam(
            [self.params.alpha], lr=self.options["arch_lr"], betas=ARCH_BETAS,
            weight_decay=self.options["arch_weight_decay"])
        self.gens = {name: torch.Generator().manual_seed(seed + k) for k, name in
                     enumerate(("sample_gen", "valid_gen", "eval_gen", "log_gen"), start=1)}
        self.evaluator = kit.scorer(shared, data, self.gens["eval_gen"])

    def epoch(self, epoch: int, bar: Bar) -> tuple[dict, dict]:
        params, kit, key = self.params, self.kit, self.kit.score_key
        lr = self.shared.lr
        self.estimator.new_epoch(epoch, self.search.epochs)
        search_alpha = epoch >= self.options["warmup_epochs"]
        with bar() as minibatches:
            loss, acc, info = self._train(search_alpha, minibatches)
        derived = self.derive()
        score_derived = kit.reported(self.evaluator.evaluate_many([derived])[0])
        samples = [params.to_arch(params.sample(self.gens["log_gen"]))
                   for _ in range(LOG_SAMPLES)]
        score_sampled = float(np.mean([kit.reported(e)
                                       for e in self.evaluator.evaluate_many(samples)]))
        entropy = float(params.entropy().detach())
        row = {"lr": lr, "train_loss": loss, **kit.train_row(loss, acc), "entropy": entropy,
               f"{key}_derived": score_derived, f"{key}_sampled": score_sampled,
               "alpha_steps": search_alpha, **info,
               "derived_arch": self.space.to_string(derived)}
        return row, {"loss": f"{loss:.3f}", "entropy": f"{entropy:.1f}",
                     key: f"{score_derived:.3f}"}

    def derive(self) -> Arch:
        """The pick: the space's top-2 inputs rule for a method that declares it (DARTS),
        else the mode of ``p_alpha``."""
        if self.estimator.derives_top2 and self.relaxation is not None:
            return self.relaxation.derive_top2()
        return self.params.derive()

    def _train(self, search_alpha: bool, bar) -> tuple[float, float, dict]:
        """One epoch of the shared weights' training (:meth:`SharedWeights.train_epoch`), each
        minibatch's weight step after an alpha step on a validation minibatch; mean training
        loss and accuracy, and the mean of what the alpha steps report."""
        shared, params, kit, gens = self.shared, self.params, self.kit, self.gens
        valid = kit.valid_batches(shared.task, gens["valid_gen"], shared.runtime)
        reports: dict[str, list[float]] = {}

        def alpha_step(x: torch.Tensor, y: torch.Tensor) -> None:
            if not search_alpha:
                return
            objective = SupernetObjective(shared.supernet, params, self.relaxation,
                                          shared.task, shared.runtime, next(valid), (x, y),
                                          shared.lr, self.search.weight_decay, kit.forward)
            grad, info = self.estimator.gradient(params, objective, gens["sample_gen"])
            params.alpha.grad = grad.to(params.alpha.dtype)
            self.arch_optimizer.step()
            for key, value in info.items():
                reports.setdefault(key, []).append(float(value))

        def choose():
            kind, choice = self.estimator.weight_choice(params, gens["sample_gen"])
            return self.relaxation.op_weights(choice) if kind == "relaxed" else \
                params.to_arch(choice)

        kit.start_epoch(shared.supernet)
        loss, acc = shared.train_epoch(choose, bar, before=alpha_step)
        return loss, acc, {k: float(np.mean(v)) for k, v in reports.items()}

    def pick(self) -> list[tuple[Arch, float]]:
        return self.kit.final_pick(self.evaluator, [self.derive()])

    def state_dict(self) -> dict:
        return {**self.shared.state_dict(), "alpha": self.params.alpha.detach().clone(),
                "arch_optimizer": self.arch_optimizer.state_dict(),
                "estimator": self.estimator.state_dict(),
                **{name: gen.get_state() for name, gen in self.gens.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.shared.load_state_dict(state)
        with torch.no_grad():
            self.params.alpha.copy_(state["alpha"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.estimator.load_state_dict(state["estimator"])
        for name, gen in self.gens.items():
            gen.set_state(state[name])


class LMRelaxedSearch(TextSearch, RelaxedSearch):
    """The relaxed controllers on a recurrent cell for language modelling (enas-rnn): the same
    loop (:class:`RelaxedSearch`) with the text task's network, optimizer (ENAS's recurrent
    SGD: lr 20, clipping 0.25) and perplexity (:class:`.one_shot_tasks.TextOneShot`).
    ``best_valid_`` is the pick's validation perplexity."""

    checkpoint_keys = (*CHECKPOINT_KEYS, GLOBAL_RNG)  # and the dropout masks' generator

    def __init__(self, space: SearchSpace, controller: str = "darts", *, epochs: int = 10,
                 hidden: int = LM_HIDDEN, batch_size: int = LM_BATCH_SIZE, bptt: int = BPTT,
                 dropouts: dict | None = None, eval_batches: int = EVAL_BATCHES,
                 lr_max: float = LM_LR, lr_min: float = LM_LR_MIN,
                 weight_decay: float = LM_WEIGHT_DECAY, grad_clip: float = LM_GRAD_CLIP,
                 controller_options: dict | None = None, device: str = "auto",
                 threads: int | None = None, random_state: int | None = 0,
                 out_dir: str | Path | None = None, resume: bool = False, progress: bool = True):
        super().__init__(space, controller, epochs=epochs, batch_size=batch_size,
                         eval_batches=eval_batches, lr_max=lr_max, lr_min=lr_min, momentum=0.0,
                         weight_decay=weight_decay, grad_clip=grad_clip,
                         controller_options=controller_options, device=device, threads=threads,
                         random_state=random_state, out_dir=out_dir, resume=resume,
                         progress=progress)
        self.hidden = hidden
        self.bptt = bptt
        self.dropouts = dropouts

