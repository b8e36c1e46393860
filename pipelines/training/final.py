"""Final training: one architecture from scratch, as the NAO and ENAS papers train their picks.

Cells are stacked by ``space.build`` (``layers`` normal cells per stage, reductions between);
training uses SGD with momentum 0.9 on a single-period cosine schedule, weight decay 3e-4,
gradient-norm clipping at 5, cutout, drop-path raised linearly from 0 to its final value, and an
auxiliary head whose loss is weighted 0.4. The model trains on the training and validation splits
together (the search is over, so nothing is left to select on, and the papers train the final
network on the whole training set) and is measured once on the test split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from nao.errors import ConfigError
from nao.seeding import global_rng_state, seeded_torch, set_global_rng_state
from search_spaces.base import Arch, SearchSpace

from .data import ImageData, Split, batches
from .epochs import EpochLoop, RunRecord, progress_bar, train_epoch
from .network_options import NetworkOptions
from .runtime import Runtime, sgd
from .task import ImageClassification, Task

# NAO / DARTS final-training settings.
LR = 0.025
LR_MIN = 0.0
MOMENTUM = 0.9
WEIGHT_DECAY = 3e-4
GRAD_CLIP = 5.0
AUXILIARY_WEIGHT = 0.4
DROP_PATH = 0.2
NETWORK = NetworkOptions(channels=16, layers=2, stem_stride=1, batch_size=64)
EVAL_BATCH_SIZE = 256
# What a ``nao train`` checkpoint holds besides its config (a resume refuses a file without them).
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "scaler", "generator", "torch_rng",
                   "history", "wall_s")
WHAT = "nao train"


@dataclass
class TrainResult:
    test_accuracy: float
    params: int
    wall_s: float
    history: list[dict]

    def to_dict(self) -> dict:
        return {"test_accuracy": self.test_accuracy, "params": self.params,
                "wall_s": round(self.wall_s, 3), "history": self.history}


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: ImageData, split: Split, runtime: Runtime,
             batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Top-1 accuracy in eval mode (BatchNorm on its running averages)."""
    model.eval()
    correct = 0
    for x, y in batches(data, split, batch_size):
        with runtime.autocast():
            logits = model(runtime.inputs(x))
        correct += int((logits.argmax(1).cpu() == y).sum())
    return correct / len(split)


def with_auxiliary(task: Task, weight: float):
    """The task's loss plus ``weight`` times the auxiliary head's, when the model has one."""
    def loss(output, y):
        logits, aux = output if isinstance(output, tuple) else (output, None)
        value = task.loss(logits, y)
        if aux is not None:
            value = value + weight * task.loss(aux, y)
        return logits, value

    return loss


def train_architecture(space: SearchSpace, arch: Arch, data: ImageData, *, epochs: int,
                       channels: int = NETWORK.channels, layers: int = NETWORK.layers,
                       batch_size: int = NETWORK.batch_size, lr: float = LR, lr_min: float = LR_MIN,
                       momentum: float = MOMENTUM, weight_decay: float = WEIGHT_DECAY,
                       grad_clip: float = GRAD_CLIP, cutout: int | None = None,
                       drop_path: float = DROP_PATH, auxiliary_weight: float = AUXILIARY_WEIGHT,
                       stem_stride: int = NETWORK.stem_stride, runtime: Runtime | None = None, random_state: int = 0,
                       out_dir: str | Path | None = None, resume: bool = False,
                       progress: bool = True) -> TrainResult:
    """Train ``arch`` for ``epochs`` epochs and report its test accuracy and parameter count.

    ``cutout`` defaults to the dataset's side length (0 turns it off); ``auxiliary_weight`` 0
    builds no auxiliary head; ``stem_stride`` 2 halves the images before the first cell.
    ``out_dir`` gets ``log.csv`` / ``log.jsonl`` and a checkpoint at every epoch end; ``resume``
    continues from that checkpoint and ends where an uninterrupted run would (same seed, same
    result on the same machine).
    """
    if epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}")
    net = NetworkOptions(channels, layers, stem_stride, batch_size).check()
    if not 0 <= drop_path < 1:
        raise ConfigError(f"drop-path must be in [0, 1), got {drop_path}")
    if auxiliary_weight < 0:
        raise ConfigError(f"auxiliary weight must be at least 0, got {auxiliary_weight}")
    cutout = data.augmentation.cutout if cutout is None else cutout
    if cutout < 0:
        raise ConfigError(f"cutout must be at least 0, got {cutout}")
    task = ImageClassification(data, data.train + data.valid, cutout)
    steps = task.n_train_batches(batch_size)
    if steps < 1:
        raise ConfigError(f"batch size {batch_size} exceeds the {len(task.train_split)} "
                          "training images")
    config = {"space": space.name, "arch": space.to_string(arch), "data": data.summary(),
              "epochs": epochs, **net.to_dict(), "lr": lr, "lr_min": lr_min,
              "momentum": momentum, "weight_decay": weight_decay, "grad_clip": grad_clip,
              "cutout": cutout, "drop_path": drop_path, "auxiliary_weight": auxiliary_weight,
              "seed": random_state}
    record = RunRecord.open(out_dir, config, resume, WHAT, CHECKPOINT_KEYS)
    runtime = runtime or Runtime("auto")
    start = time.perf_counter()
    with seeded_torch(random_state, runtime.device):
        model = space.build(arch, channels, data.num_classes, layers, data.in_channels,
                            auxiliary=auxiliary_weight > 0, drop_path=0.0,
                            stem_stride=stem_stride)
        model = runtime.prepare(model)
        optimizer = sgd(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                               eta_min=lr_min)
        generator = torch.Generator().manual_seed(random_state)

        def load(state: dict) -> None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            runtime.scaler.load_state_dict(state["scaler"])
            generator.set_state(state["generator"])
            set_global_rng_state(state, runtime.device)

        def one_epoch(epoch: int) -> tuple[dict, dict]:
            model.drop_path_prob = drop_path * epoch / epochs  # linear ramp, as NAO
            loss, acc = train_epoch(model, task, optimizer, runtime, batch_size=batch_size,
                                    generator=generator, grad_clip=grad_clip,
                                    loss=with_auxiliary(task, auxiliary_weight), bar=bar)
            row = {"lr": optimizer.param_groups[0]["lr"], "drop_path": model.drop_path_prob,
                   "train_loss": loss, "train_acc": acc}
            scheduler.step()
            return row, {"loss": f"{loss:.3f}", "acc": f"{acc:.3f}"}

        def state() -> dict:
            return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": runtime.scaler.state_dict(),
                    "generator": generator.get_state(), **global_rng_state(runtime.device)}

        bar = progress_bar(progress, total=epochs * steps, initial=record.start_epoch * steps,
                           unit="batch", desc="train", every=steps)  # plain: a line an epoch
        loop = EpochLoop(record, epochs, bar, bar_counts_epochs=False, started=start)
        loop.restore(load)
        history = loop.run(one_epoch, state)
        test = accuracy(model, data, data.test, runtime)
    return TrainResult(test, int(model.num_params()), loop.wall_s, history)
