"""``nao train``'s options and the checks it makes before it imports torch (the training:
:mod:`pipelines.commands.train`)."""

from __future__ import annotations

import argparse

from search_spaces import Buildable, get_space, require
from search_spaces import usage as space_usage

from ..common import (
    add_common,
    deferred,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .defaults import AUXILIARY_WEIGHT, DROP_PATH, LM_LR, TRAIN_LR, TRAIN_NETWORK
from .training import add_text_options, add_training_options, check_layers, is_text

DEFAULT_SPACE = "enas-micro"
DEFAULT_EPOCHS = 20


def check(args: argparse.Namespace) -> None:
    """What ``nao train`` checks first, in its order: the space, that it builds networks, the
    ``--layers`` it takes, and the architecture (a text space's options: when it runs)."""
    space = get_space(args.space)
    if is_text(space):
        return
    require(space, Buildable, "nao train")
    check_layers(args, space, TRAIN_NETWORK.layers)
    space.from_string(args.arch)


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train one architecture from scratch",
        description="Final training of one architecture (cells stacked as in NAO/ENAS): SGD "
                    "momentum 0.9, cosine schedule, weight decay 3e-4, clipping 5, cutout, "
                    "drop-path ramped up linearly, auxiliary head. Trains on train+valid and "
                    "reports test accuracy and parameter count.")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"search space (default {DEFAULT_SPACE}); {space_usage()}")
    p.add_argument("--arch", required=True,
                   help="the architecture in the space's string form (--space enas-rnn: "
                        "'lstm' trains the LSTM baseline of the same size the same way)")
    p.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                   help=f"training epochs (default {DEFAULT_EPOCHS})")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"initial learning rate of the cosine schedule (default {TRAIN_LR}; "
                        f"--space enas-rnn: {LM_LR}, SGD with clipping 0.25)")
    p.add_argument("--cutout", type=non_negative_int, default=None,
                   help="cutout square side in pixels, 0 = off (default: per data set, "
                        "16 on CIFAR)")
    p.add_argument("--drop-path", type=fraction, default=DROP_PATH,
                   help=f"final drop-path probability, ramped from 0 (default {DROP_PATH})")
    p.add_argument("--auxiliary-weight", type=non_negative_float, default=AUXILIARY_WEIGHT,
                   help=f"weight of the auxiliary head's loss, 0 = no head "
                        f"(default {AUXILIARY_WEIGHT})")
    p.add_argument("--out", help="run directory: log.csv / log.jsonl and a checkpoint (the model "
                                 "included) at every epoch end")
    p.add_argument("--resume", action="store_true",
                   help="continue the run checkpointed in --out from its last finished epoch")
    add_training_options(p, TRAIN_NETWORK)
    add_text_options(p)
    add_common(p)
    p.set_defaults(run=deferred("train", check))
