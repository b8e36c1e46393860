"""``nao train``: train one architecture from scratch and report its test accuracy."""

from __future__ import annotations

import argparse

from search_spaces import Buildable, get_space, require

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
from .data_options import check_layers, claim_out, interrupted, load, runtime
from .parsers.training import is_text

# image options a text space refuses when changed (see text_runs)
IMAGE_DEFAULTS = {"channels": NETWORK.channels, "layers": NETWORK.layers,
                  "stem_stride": NETWORK.stem_stride, "download": False, "cutout": None,
                  "drop_path": DROP_PATH, "auxiliary_weight": AUXILIARY_WEIGHT}


def run(args: argparse.Namespace):
    space = get_space(args.space)
    if is_text(space):  # enas-rnn: a word-level language model on a text corpus
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
