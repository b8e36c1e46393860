"""``nao ws`` and ``nao train`` on a text space (``--space enas-rnn``): the checks that keep
image options and image data away from it (and text data and text options away from image
spaces), the language model's options (:func:`.parsers.training.add_text_options`), ``nao
train``'s run and ``nao ws``'s summary. ``ws.py`` and ``train.py`` hand a space that builds
language models here.

Image options a text run cannot use (``--channels``, ``--layers``, ``--stem-stride``,
``--download``; for ``nao train`` also ``--cutout``, ``--drop-path``, ``--auxiliary-weight``)
are refused with one line when they differ from the command's defaults (argparse does not say
whether a default was typed, so typing the default value itself passes unnoticed).
"""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces.base import SearchSpace

from ..training.lm_train import LR, LSTM, LMOptions, train_lm, trim_train
from ..training.text_data import TEXT_DATASETS, check_text_options, load_text
from .common import parse_settings
from .parsers.defaults import BPTT, LM_HIDDEN

# the language model's options an image space refuses when changed (check_not_text_data)
TEXT_DEFAULTS = {"hidden": LM_HIDDEN, "bptt": BPTT}
TEXT_CORPORA = "--data kjv (or standin-text, or ptb --data-dir DIR)"


def check_text_args(args: argparse.Namespace, image_defaults: dict) -> None:
    """A text run's options, checked before anything is created or loaded."""
    if args.data not in TEXT_DATASETS:
        raise ConfigError(f"--space {args.space} models text, not {args.data}; pass "
                          f"{TEXT_CORPORA}")
    check_text_options(args.data, args.data_dir)
    given = [name for name, default in image_defaults.items()
             if getattr(args, name) != default]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"{flags} configure image networks, not --space {args.space}; drop "
                          "them (the language model's size is --hidden, --bptt, --batch-size)")
    options(args).check()


def check_not_text_data(args: argparse.Namespace) -> None:
    """An image space given a text corpus, or a language model's options: the one-line error
    naming the fix (the options are refused when they differ from their defaults, as the image
    options on a text space)."""
    if args.data in TEXT_DATASETS:
        raise ConfigError(f"--data {args.data} is a text corpus, for --space enas-rnn; pick an "
                          "image data set (digits, fashion-mnist, cifar10, ...) for "
                          f"--space {args.space}")
    given = [f"--{name}" for name, default in TEXT_DEFAULTS.items()
             if getattr(args, name, default) != default]
    if getattr(args, "dropouts", None):
        given.append("--dropout")
    if given:
        raise ConfigError(f"{', '.join(given)} configure language models (--space enas-rnn), "
                          f"not --space {args.space}; drop them (an image network's size is "
                          "--channels, --layers, --batch-size)")


def dropouts(args: argparse.Namespace) -> dict:
    out = {}
    for name, rate in parse_settings(args.dropouts).items():
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ConfigError(f"--dropout {name}={rate}: the rate must be a number in [0, 1)")
        out[name] = float(rate)
    return out


def options(args: argparse.Namespace) -> LMOptions:
    return LMOptions(args.hidden, args.batch_size, args.bptt, dropouts(args))


def load(args: argparse.Namespace):
    """The corpus, its training split cut to the first ``--train-size`` tokens."""
    return trim_train(load_text(args.data, args.data_dir), args.train_size)


def ws_summary(out: dict) -> str:
    last = out["history"][-1] if out["history"] else {}
    return "\n".join([
        f"space     {out['space']}   controller {out['controller']}   data "
        f"{out['data']['name']}   seed {out['seed']}   device {out['device']}",
        f"epochs    {out['epochs']} in {out['wall_s']:.1f} s   last train ppl "
        f"{last.get('train_ppl', float('nan')):.1f}",
        f"best      {out['best']['arch']}",
        f"valid_ppl {out['best']['valid_ppl']:.2f} (shared weights, whole validation split)",
    ])


def parse_arch(space: SearchSpace, text: str):
    """``--arch lstm``: the LSTM baseline of the same size (``None``); else a cell."""
    return None if text.strip().lower() == LSTM else space.from_string(text)


def train(args: argparse.Namespace, space: SearchSpace, arch, runtime) -> tuple[dict, str]:
    """``nao train`` on a text space (data loaded here, inside the caller's ``--out`` lock)."""
    data = load(args)
    lm_options = options(args)
    result = train_lm(space, arch, data, epochs=args.epochs, options=lm_options,
                      lr=LR if args.lr is None else args.lr, runtime=runtime,
                      random_state=args.seed, out_dir=args.out, resume=args.resume,
                      progress=not args.quiet)
    out = {"space": space.name, "arch": LSTM if arch is None else space.to_string(arch),
           "data": data.summary(), "epochs": args.epochs, **lm_options.to_dict(),
           "seed": args.seed, "device": str(runtime.device), **result.to_dict(),
           "out": args.out}
    summary = (f"valid_ppl {out['valid_ppl']:.2f}   test_ppl {out['test_ppl']:.2f}   params "
               f"{out['params']:,}   {out['wall_s']:.1f} s on {out['device']} ({data.name}, "
               f"{args.epochs} epochs)")
    return out, summary
