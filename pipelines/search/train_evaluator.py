"""Children trained from scratch (NAS-RL's evaluator): each architecture is built, trained for a
few epochs on the training split and scored by its validation accuracy; its test accuracy is
reported with it, never searched on.

A child is described by a small picklable :class:`ChildJob` (the space and architecture by name,
the data set by its options, the training recipe, a seed), and :func:`train_child` runs it
anywhere: in this process, in a local worker process, or on a dask worker of another machine,
which loads the data set once per process. The child's seed comes from the run's seed and the
architecture's canonical key alone, so its score does not depend on which worker trains it or in
what order: ``--workers 2`` finds the same scores as ``--workers 1``.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial

import torch

from nao.errors import ConfigError
from nao.seeding import seeded_torch
from search_spaces import Buildable, get_space, require
from search_spaces.base import Arch, SearchSpace

from ..training.data import ImageData, check_data_options, load_data
from ..training.epochs import train_epoch
from ..training.final import accuracy
from ..training.runtime import Runtime, sgd
from ..training.task import ImageClassification
from .evaluators import Evaluation, Evaluator
from .store import key_text

# Zoph & Le's child recipe (SGD with Nesterov momentum 0.9, learning rate 0.1, weight decay
# 1e-4), on a cosine schedule since our children train for a few epochs rather than 50.
EPOCHS = 2
BATCH_SIZE = 64
LR = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
GRAD_CLIP = 5.0


@dataclass(frozen=True)
class DataSpec:
    """A data set by its command-line options; ``seed`` draws the validation split."""

    name: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    seed: int = 0

    def check(self) -> DataSpec:
        """The checks that need no file (before any work starts)."""
        check_data_options(self.name, self.data_dir)
        if self.train_size is not None and self.train_size < 1:
            raise ConfigError(f"--train-size must be at least 1, got {self.train_size}")
        return self

    def load(self) -> ImageData:
        return _load(self)


@dataclass(frozen=True)
class ChildTraining:
    """How every child trains; ``threads`` are torch's CPU threads in the process training it."""

    epochs: int = EPOCHS
    batch_size: int = BATCH_SIZE
    lr: float = LR
    momentum: float = MOMENTUM
    weight_decay: float = WEIGHT_DECAY
    grad_clip: float = GRAD_CLIP
    device: str = "cpu"
    threads: int = 1

    def check(self) -> ChildTraining:
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"the child learning rate must be more than 0, got {self.lr}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ChildJob:
    """Everything a worker needs to train one child, as plain values."""

    space: str
    arch: str
    data: DataSpec
    training: ChildTraining
    seed: int
    key: str = field(default="")


def child_seed(run_seed: int, key: str) -> int:
    """The child's own seed: fixed by the run's seed and the architecture, not by the order."""
    return zlib.crc32(f"{run_seed}|{key}".encode())


@lru_cache(maxsize=4)
def _load(spec: DataSpec) -> ImageData:
    """One copy of each data set per process, loaded by the first child that needs it."""
    return load_data(spec.name, seed=spec.seed, data_dir=spec.data_dir,
                     train_size=spec.train_size)


@lru_cache(maxsize=8)
def _space(name: str) -> SearchSpace:
    return get_space(name)


def train_child(job: ChildJob) -> Evaluation:
    """Build ``job``'s architecture, train it from scratch and score it (runs in a worker)."""
    start = time.perf_counter()
    data = job.data.load()
    space = _space(job.space)
    arch = space.from_string(job.arch)
    recipe = job.training
    runtime = Runtime(recipe.device, recipe.threads)
    task = ImageClassification(data)
    if task.n_train_batches(recipe.batch_size) < 1:
        raise ConfigError(f"--batch-size {recipe.batch_size} exceeds the {len(data.train)} "
                          "training images; lower --batch-size")
    with seeded_torch(job.seed, runtime.device):
        model = runtime.prepare(space.build(arch, space.child_channels, data.num_classes,
                                            space.child_layers, data.in_channels))
        optimizer = sgd(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                        weight_decay=recipe.weight_decay, nesterov=recipe.momentum > 0)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
        generator = torch.Generator().manual_seed(job.seed)
        for _ in range(recipe.epochs):
            loss, _acc = train_epoch(model, task, optimizer, runtime,
                                     batch_size=recipe.batch_size, generator=generator,
                                     grad_clip=recipe.grad_clip)
            scheduler.step()
        valid = accuracy(model, data, data.valid, runtime)
        test = accuracy(model, data, data.test, runtime)
    params = sum(p.numel() for p in model.parameters())
    return Evaluation(valid, test, {"params": int(params), "train_loss": float(loss),
                                    "train_s": round(time.perf_counter() - start, 3)})


class TrainEvaluator(Evaluator):
    """Scores an architecture by training it from scratch (see the module docstring)."""

    def __init__(self, space: SearchSpace, data: DataSpec, training: ChildTraining | None = None,
                 seed: int = 0):
        require(space, Buildable, "training children from scratch (nao search --data)")
        self.space = space
        self.data = data.check()
        self.training = (training or ChildTraining()).check()
        self.seed = int(seed)

    def job(self, arch: Arch) -> ChildJob:
        key = key_text(self.space.canonical(arch))
        return ChildJob(self.space.name, self.space.to_string(arch), self.data, self.training,
                        child_seed(self.seed, key), key)

    def evaluate(self, arch: Arch) -> Evaluation:
        return train_child(self.job(arch))

    def task(self, arch: Arch):
        """``train_child`` of the child's job: a few hundred bytes to send to a worker."""
        return partial(train_child, self.job(arch))

    def config(self) -> dict:
        """What a stored run records, so a resume with other data or recipe is refused."""
        return {"data": asdict(self.data), "training": self.training.to_dict()}
