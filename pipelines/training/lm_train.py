"""Training a word-level language model, the recurrent-cell counterpart of :mod:`.final`.

:class:`LMOptions` are the model and batch sizes ``nao ws`` and ``nao train`` share on text;
:func:`lm_optimizer` is the optimizer both train with; :func:`train_lm` trains one cell (or the
LSTM baseline) from scratch and measures it once on the test split.

The optimizer is ENAS's / DARTS's for recurrent cells: plain SGD (no momentum) at a large
learning rate, 20, with the gradient norm clipped at 0.25 and a tiny weight decay; the rate
follows a cosine from 20 down to 2 over the run (the papers decay it too, by steps or by
switching to averaged SGD, over hundreds of epochs; a CPU run has a few). The same settings
train a 64-unit model on a CPU to a useful perplexity within a few epochs (docs/results.md).

Unlike an image pick's final training, the language model trains on the training split only
and reports validation perplexity every epoch, as the papers' language models do; the test
split is read once, at the end. The hidden state is carried (detached) from one BPTT segment to
the next and reset at each epoch start.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from nao.errors import ConfigError
from nao.seeding import global_rng_state, seeded_torch, set_global_rng_state
from search_spaces.base import Arch, BuildableLM, SearchSpace

from .epochs import EpochLoop, RunRecord, train_epoch
from .lm_eval import evaluate_lm
from .runtime import Runtime, sgd
from .task import BPTT, LanguageModeling, perplexity
from .text_data import TextData

LR = 20.0
LR_MIN = 2.0
GRAD_CLIP = 0.25
WEIGHT_DECAY = 5e-7  # DARTS's recurrent search
HIDDEN = 64  # embedding = hidden size (tied softmax); the papers use 300-850 on a GPU
BATCH_SIZE = 64  # ENAS's training streams
LSTM = "lstm"  # ``nao train --space enas-rnn --arch lstm``: the baseline of the same size
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "generator", "torch_rng",
                   "history", "wall_s")
WHAT = "nao train"


@dataclass(frozen=True)
class LMOptions:
    """The language model's size (``hidden`` = embedding size), its dropouts (``None``: the
    space's defaults; overrides by name), the training streams and the BPTT length."""

    hidden: int = HIDDEN
    batch_size: int = BATCH_SIZE
    bptt: int = BPTT
    dropouts: dict = field(default_factory=dict)

    def check(self) -> LMOptions:
        from search_spaces.enas_rnn_net import resolve_dropouts

        for name in ("hidden", "batch_size", "bptt"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        resolve_dropouts(self.dropouts)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def trim_train(data: TextData, train_size: int | None) -> TextData:
    """``data`` with only the first ``train_size`` training tokens (a prefix keeps the text in
    order, which the carried hidden state relies on); validation and test stay whole."""
    if train_size is None or train_size >= len(data.train):
        return data
    return replace(data, train=data.train[:train_size],
                   stats={**data.stats, "train_size": train_size})


def lm_optimizer(model: nn.Module, epochs: int, lr: float = LR, lr_min: float = LR_MIN,
                 weight_decay: float = WEIGHT_DECAY):
    """Plain SGD and a cosine from ``lr`` to ``min(lr_min, lr)`` over ``epochs``."""
    optimizer = sgd(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                           eta_min=min(lr_min, lr))
    return optimizer, scheduler


def build_model(space: SearchSpace, arch: Arch | None, vocab_size: int,
                options: LMOptions) -> nn.Module:
    """The word LM of ``arch``, or the LSTM baseline of the same size when ``arch`` is None."""
    from search_spaces.enas_rnn_net import lstm_lm

    if arch is None:
        return lstm_lm(vocab_size, options.hidden, options.dropouts)
    if not isinstance(space, BuildableLM):
        raise ConfigError(f"space {space.name} builds no language models; use --space enas-rnn")
    return space.build_lm(arch, vocab_size, options.hidden, options.dropouts)


@dataclass
class LMResult:
    valid_ppl: float
    test_ppl: float
    params: int
    wall_s: float
    history: list[dict]

    def to_dict(self) -> dict:
        return {"valid_ppl": self.valid_ppl, "test_ppl": self.test_ppl, "params": self.params,
                "wall_s": round(self.wall_s, 3), "history": self.history}


def train_lm(space: SearchSpace, arch: Arch | None, data: TextData, *, epochs: int,
             options: LMOptions = LMOptions(), lr: float = LR, lr_min: float = LR_MIN,
             grad_clip: float = GRAD_CLIP, weight_decay: float = WEIGHT_DECAY,
             runtime: Runtime | None = None, random_state: int | None = 0,
             out_dir: str | Path | None = None, resume: bool = False,
             progress: bool = True) -> LMResult:
    """Train ``arch``'s language model (``None``: the LSTM) from scratch on ``data``'s training
    split; validation perplexity every epoch, test perplexity once at the end. With ``out_dir``
    a checkpoint and ``log.csv`` / ``log.jsonl`` every epoch; ``resume`` continues from it."""
    options.check()
    if epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}")
    runtime = runtime or Runtime("cpu")
    seed = 0 if random_state is None else int(random_state)
    config = {"space": space.name, "arch": LSTM if arch is None else space.to_string(arch),
              "data": data.name, "train_tokens": len(data.train), "seed": random_state,
              "epochs": epochs, **options.to_dict(), "lr": lr, "lr_min": lr_min,
              "grad_clip": grad_clip, "weight_decay": weight_decay}
    record = RunRecord.open(out_dir, config, resume, WHAT, CHECKPOINT_KEYS)
    task = LanguageModeling(data, seq_len=options.bptt)
    task.n_train_batches(options.batch_size)  # too few tokens for the streams: one line here
    with seeded_torch(seed, runtime.device):  # dropout masks: seeded here, global state kept
        model = runtime.prepare(build_model(space, arch, data.vocab_size, options))
        optimizer, scheduler = lm_optimizer(model, epochs, lr, lr_min, weight_decay)
        generator = torch.Generator().manual_seed(seed)

        def load(state: dict) -> None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            set_global_rng_state(state, runtime.device)

        def one_epoch(epoch: int) -> tuple[dict, dict]:
            current_lr = optimizer.param_groups[0]["lr"]
            model.reset_state()
            loss, _ = train_epoch(model, task, optimizer, runtime, batch_size=options.batch_size,
                                  generator=generator, grad_clip=grad_clip)
            scheduler.step()
            valid_ppl = perplexity(evaluate_lm(model, task, "valid",
                                               device=runtime.device).mean_loss)
            return ({"lr": current_lr, "train_loss": loss, "train_ppl": perplexity(loss),
                     "valid_ppl": valid_ppl}, {"valid_ppl": f"{valid_ppl:.1f}"})

        def state() -> dict:
            return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                    **global_rng_state(runtime.device)}

        loop = EpochLoop.with_epoch_bar(record, epochs, progress,
                                        f"train {config['arch'][:30]} on {data.name}")
        loop.restore(load)
        history = loop.run(one_epoch, state)
        test = evaluate_lm(model, task, "test", device=runtime.device)
    params = sum(p.numel() for p in model.parameters())
    valid_ppl = history[-1]["valid_ppl"] if history else math.nan
    return LMResult(valid_ppl, perplexity(test.mean_loss), params, loop.wall_s, history)
