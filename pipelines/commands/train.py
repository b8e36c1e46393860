"""``nao train``: train one architecture from scratch and report its test accuracy."""

from __future__ import annotations

import argparse

from search_spaces import Buildable, get_space, require
from search_spaces import usage as space_usage

from ..training.final import (
    AUXILIARY_WEIGHT,
    CHECKPOINT_KEYS,
    DROP_PATH,
    LR,
    NETWORK,
    WHAT,
    train_architecture,
)
from ..training.lm_train import CHECKPOINT_KEYS as LM_TRAIN_KEYS
from ..training.network_options import NetworkOptions
from . import text_runs
from .common import (
    add_common,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .data_options import (
    add_training_options,
    check_layers,
    claim_out,
    interrupted,
    load,
    runtime,
)

DEFAULT_SPACE = "enas-micro"
DEFAULT_EPOCHS = 20
# image options a text space refuses when changed (see text_runs)
IMAGE_DEFAULTS = {"channels": NETWORK.channels, "layers": NETWORK.layers,
                  "stem_stride": NETWORK.stem_stride, "download": False, "cutout": None,
                  "drop_path": DROP_PATH, "auxiliary_weight": AUXILIARY_WEIGHT}


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
                   help=f"initial learning rate of the cosine schedule (default {LR}; "
                        f"--space enas-rnn: {text_runs.LR}, SGD with clipping 0.25)")
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
    add_training_options(p, NETWORK)
    text_runs.add_text_options(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace):
    space = get_space(args.space)
    if text_runs.is_text(space):  # enas-rnn: a word-level language model on a text corpus
        return run_text(args, space)
    require(space, Buildable, "nao train")
    check_layers(args, space, NETWORK.layers)
    arch = space.from_string(args.arch)
    rt = runtime(args)
    try:
        with claim_out(args, WHAT, CHECKPOINT_KEYS):
            data = load(args)
            result = train_architecture(
                space, arch, data, epochs=args.epochs, **NetworkOptions.from_args(args).to_dict(),
                lr=LR if args.lr is None else args.lr, cutout=args.cutout,
                drop_path=args.drop_path,
                auxiliary_weight=args.auxiliary_weight, runtime=rt,
                random_state=args.seed, out_dir=args.out, resume=args.resume,
                progress=not args.quiet)
    except KeyboardInterrupt:
        raise interrupted(args) from None
    out = {"space": space.name, "arch": space.to_string(arch), "data": data.summary(),
           "epochs": args.epochs, "stem_stride": args.stem_stride, "seed": args.seed,
           "device": str(rt.device),
           **result.to_dict(), "out": args.out}
    summary = (f"test accuracy {out['test_accuracy']:.4f}   params {out['params']:,}   "
               f"{out['wall_s']:.1f} s on {out['device']} ({data.name}, {args.epochs} epochs)")
    return out, summary


def run_text(args: argparse.Namespace, space):
    """``nao train --space enas-rnn``: the cell (or ``--arch lstm``) as a word LM."""
    text_runs.check_text_args(args, IMAGE_DEFAULTS)
    arch = text_runs.parse_arch(space, args.arch)
    rt = runtime(args)
    try:
        with claim_out(args, WHAT, LM_TRAIN_KEYS, text=True):
            return text_runs.train(args, space, arch, rt)
    except KeyboardInterrupt:
        raise interrupted(args) from None
