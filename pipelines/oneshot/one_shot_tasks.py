"""What a one-shot search does differently on images and on text, in one place per task.

Both one-shot drivers run one loop for both tasks: the pool driver
(:class:`.weight_sharing.WeightSharingSearch`: a pool trained on and scored with the shared
weights, turned over by a controller) and the relaxed driver
(:class:`.relaxed_search.RelaxedSearch`: alpha steps on validation minibatches alternating with
weight steps on training minibatches). What the task changes is behind :class:`ImageOneShot`
and :class:`TextOneShot`, which a driver's ``kit()`` gives:

=====================  ==========================================  ===========================
                       image (enas-micro, enas-macro)              text (enas-rnn)
=====================  ==========================================  ===========================
network size           channels, layers, stem stride, batch        hidden, bptt, dropouts, batch
supernet               ``space.build_supernet``                    ``space.build_lm_supernet``
weights' optimizer     SGD, Nesterov momentum, cosine              ENAS's recurrent SGD (lr 20)
alpha-step minibatch   shuffled validation images                  validation segments in text
                                                                   order, each from a zero state
score (pool, pick)     accuracy on random validation minibatches   perplexity on the first
                       (higher is better)                          segments, ranked by the
                                                                   task's utility ``c / ppl``
log columns            train_acc, valid_*                          train_ppl, valid_ppl_*
global random state    not drawn                                   dropout masks: seeded, kept
                                                                   in the checkpoint
=====================  ==========================================  ===========================

An alpha step's validation segment starts from a zero hidden state, so every sample or mixed
cell one step compares starts alike (DARTS carries the state across its validation segments,
which ties a step's loss to the cells of the steps before it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from nao.errors import ConfigError
from nao.metrics import best_first
from nao.seeding import global_rng_state, seeded_torch, set_global_rng_state
from search_spaces import require
from search_spaces.base import Arch, Buildable, BuildableLM, SearchSpace

from ..search.evaluators import Evaluation, Evaluator
from ..training.data import ImageData, batches
from ..training.lm_eval import evaluate_lm
from ..training.lm_train import LMOptions, lm_optimizer
from ..training.network_options import NetworkOptions
from ..training.runtime import Runtime
from ..training.task import ImageClassification, LanguageModeling, perplexity
from ..training.text_data import TextData
from .methods import IMAGE, TEXT
from .shared_training import SharedWeights, build_supernet, final_pick
from .supernet_evaluator import SupernetEvaluator


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


GLOBAL_RNG = "torch_rng"  # a text run's checkpoint key for torch's global generator (dropout)


class ImageOneShot:
    """Image classification: accuracy, reported under ``valid``."""

    name = IMAGE
    score_key = "valid"  # the report's key of a score (accuracy)

    def __init__(self, network: NetworkOptions, eval_batches: int):
        self.network, self.eval_batches = network, eval_batches

    @staticmethod
    def require_space(space: SearchSpace) -> None:
        """A one-line error, before any data loads, for a space without an image supernet."""
        require(space, Buildable, "weight sharing (nao ws)")

    def task(self, data: ImageData, valid_batch: bool = False) -> ImageClassification:
        """The task, or a one-line error when the training split (and, with ``valid_batch``,
        the validation split: the relaxed methods' alpha steps) cannot fill a minibatch."""
        task = ImageClassification(data)
        size = self.network.batch_size
        short_train = task.n_train_batches(size) < 1
        if valid_batch and (short_train or len(data.valid) < size):
            raise ConfigError(f"batch size {size} exceeds the {len(data.train)} training or "
                              f"{len(data.valid)} validation images; lower --batch-size")
        if short_train:
            raise ConfigError(f"batch size {size} exceeds the {len(data.train)} training "
                              "images; lower --batch-size")
        return task

    def seeded(self, seed: int, device: torch.device) -> AbstractContextManager:
        """Nothing on this task draws from torch's global random state."""
        return nullcontext()

    def shared_weights(self, space: Buildable, task: ImageClassification, runtime: Runtime,
                       seed: int, epochs: int, hyper: dict) -> SharedWeights:
        supernet = build_supernet(space, self.network, task, seed, runtime)
        return SharedWeights.sgd(supernet, task, runtime, epochs=epochs,
                                 batch_size=self.network.batch_size, seed=seed, **hyper)

    def scorer(self, shared: SharedWeights, data: ImageData, generator: torch.Generator
               ) -> SupernetEvaluator:
        """``eval_batches`` random validation minibatches per call (the same for every
        architecture of one call)."""
        return SupernetEvaluator(shared.supernet, data, task=shared.task,
                                 batch_size=self.network.batch_size,
                                 n_batches=self.eval_batches, runtime=shared.runtime,
                                 generator=generator)

    @staticmethod
    def reported(evaluation: Evaluation) -> float:
        return evaluation.valid

    @staticmethod
    def final_pick(scorer: SupernetEvaluator, pool: Sequence[Arch], k: int = 1
                   ) -> list[tuple[Arch, float]]:
        """The pool's best ``k`` re-scored on the whole validation split: (arch, accuracy)."""
        return final_pick(scorer, pool, k)

    def valid_batches(self, task: ImageClassification, generator: torch.Generator,
                      runtime: Runtime) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless shuffled validation minibatches, reshuffled each pass."""
        data = task.data
        while True:
            for x, y in batches(data, data.valid, self.network.batch_size, shuffle=True,
                                generator=generator, drop_last=True):
                yield runtime.inputs(x), y.to(runtime.device)

    @staticmethod
    def forward(supernet: nn.Module, x: torch.Tensor, choice) -> torch.Tensor:
        return supernet(x, choice)

    @staticmethod
    def start_epoch(supernet: nn.Module) -> None:
        """Nothing carries over between minibatches."""

    @staticmethod
    def train_row(loss: float, metric: float) -> dict:
        """The log row's training columns beside ``train_loss``: the accuracy."""
        return {"train_acc": metric}

    @staticmethod
    def state(device: torch.device) -> dict:
        """Nothing of torch's global state (nothing draws from it)."""
        return {}

    @staticmethod
    def load_state(state: dict, device: torch.device) -> None:
        return None

    @staticmethod
    def scorer_state(generator: torch.Generator, device: torch.device) -> dict:
        """The pool scorer's random state (its minibatch draws) for a checkpoint."""
        return {"eval_gen": generator.get_state()}

    @staticmethod
    def load_scorer_state(generator: torch.Generator, state: dict,
                          device: torch.device) -> None:
        generator.set_state(state["eval_gen"])


class TextOneShot:
    """Word-level language modelling: perplexity, reported under ``valid_ppl``, ranked by the
    task's utility."""

    name = TEXT
    score_key = "valid_ppl"

    def __init__(self, network: LMOptions, eval_batches: int):
        self.network, self.eval_batches = network, eval_batches

    @staticmethod
    def require_space(space: SearchSpace) -> None:
        """A one-line error, before any data loads, for a space without a language model."""
        if not isinstance(space, BuildableLM):
            raise ConfigError(f"space {space.name} builds no language models; search it on "
                              "image data (--data digits), or use --space enas-rnn on text")

    def task(self, data: TextData, valid_batch: bool = False) -> LanguageModeling:
        """The task, or a one-line error when the training split (and, with ``valid_batch``,
        the validation split: the relaxed methods' alpha steps) cannot fill a segment."""
        task = LanguageModeling(data, seq_len=self.network.bptt)
        task.n_train_batches(self.network.batch_size)
        if valid_batch:  # batchify's one-line error when the split is too short
            next(iter(task.eval_batches("valid", self.network.batch_size)))
        return task

    def seeded(self, seed: int, device: torch.device) -> AbstractContextManager:
        """Dropout masks come from torch's global generator (``device``'s on a GPU): seeded
        here, the caller's state kept."""
        return seeded_torch(seed, device)

    def shared_weights(self, space: BuildableLM, task: LanguageModeling, runtime: Runtime,
                       seed: int, epochs: int, hyper: dict) -> SharedWeights:
        net = self.network
        supernet = runtime.prepare(space.build_lm_supernet(task.vocab_size, net.hidden,
                                                           net.dropouts))
        optimizer, scheduler = lm_optimizer(supernet, epochs, hyper["lr_max"], hyper["lr_min"],
                                            hyper["weight_decay"])
        return SharedWeights(supernet, optimizer, scheduler, runtime, task, net.batch_size,
                             hyper["grad_clip"], torch.Generator().manual_seed(seed))

    def scorer(self, shared: SharedWeights, data: TextData, generator: torch.Generator
               ) -> LMPoolScorer:
        """The first ``eval_batches`` validation segments: the same words every call."""
        return LMPoolScorer(shared.supernet, shared.task, shared.runtime,
                            self.network.batch_size, self.eval_batches)

    @staticmethod
    def reported(evaluation: Evaluation) -> float:
        return evaluation.info["valid_ppl"]

    @staticmethod
    def final_pick(scorer: LMPoolScorer, pool: Sequence[Arch], k: int = 1
                   ) -> list[tuple[Arch, float]]:
        """The pool's best ``k`` re-scored on the whole validation split: (arch, perplexity)."""
        return lm_final_pick(scorer, pool, k)

    def valid_batches(self, task: LanguageModeling, generator: torch.Generator,
                      runtime: Runtime) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless validation segments in text order (``generator`` is not drawn from)."""
        while True:
            yield from task.eval_batches("valid", self.network.batch_size, runtime.device)

    @staticmethod
    def forward(supernet: nn.Module, x: torch.Tensor, choice) -> torch.Tensor:
        """From a zero hidden state (module docstring), leaving the training carry alone."""
        return supernet.step(x, None, choice)[0]

    @staticmethod
    def start_epoch(supernet: nn.Module) -> None:
        """The hidden state starts afresh each epoch."""
        supernet.reset_state()

    @staticmethod
    def train_row(loss: float, metric: float) -> dict:
        """The log row's training columns beside ``train_loss``: the perplexity."""
        return {"train_ppl": perplexity(loss)}

    @staticmethod
    def state(device: torch.device) -> dict:
        """The dropout masks' generators: the CPU's and, on a GPU, ``device``'s (a resume draws
        the masks the uninterrupted run would have)."""
        return global_rng_state(device)

    @staticmethod
    def load_state(state: dict, device: torch.device) -> None:
        set_global_rng_state(state, device)

    @staticmethod
    def scorer_state(generator: torch.Generator, device: torch.device) -> dict:
        """Nothing: the scorer draws nothing (the first segments); the dropout masks' global
        state is :meth:`state`'s, which every one-shot checkpoint holds."""
        return {}

    @staticmethod
    def load_scorer_state(generator: torch.Generator, state: dict,
                          device: torch.device) -> None:
        return None
