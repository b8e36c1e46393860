"""Command-line options shared by the commands that train networks (``nao ws``, ``nao train``)."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from nao.errors import ConfigError
from search_spaces.enas_micro_net import STEM_STRIDES

from ..training.data import DATASETS, check_data_options, load_data
from ..training.network_options import NetworkOptions
from ..training.run_dir import check_resume, lock_run_dir
from ..training.run_files import CHECKPOINT, check_run_dir
from ..training.runtime import DEVICES, Runtime
from .common import positive_int

# One thread by default: on a shared CPU torch's threads spin-wait on each other (measured in
# docs/results.md); a user with idle cores to spare can raise it.
THREADS = 1


def add_training_options(parser: argparse.ArgumentParser, network: NetworkOptions) -> None:
    """--data, --data-dir, --download, --train-size, --device, --threads, and the
    :class:`NetworkOptions` (--channels, --layers, --stem-stride, --batch-size) with the
    command's defaults; :meth:`NetworkOptions.from_args` reads them back."""
    parser.add_argument("--data", default="digits", metavar="NAME",
                        help=f"data set: {', '.join(DATASETS)} (standin:CxHxW sets the "
                             "stand-in's shape; default digits)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the data set's files are (fashion-mnist: the four idx files "
                             "or torchvision's FashionMNIST/raw; cifar: torchvision's layout)")
    parser.add_argument("--download", action="store_true",
                        help="let torchvision download CIFAR into --data-dir (never otherwise)")
    parser.add_argument("--train-size", type=positive_int, default=None, metavar="N",
                        help="use only N training images (seed-fixed subset) for a quick run; "
                             "validation and test stay whole (default: all)")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto = CUDA (mixed precision) when present, else CPU (default auto)")
    parser.add_argument("--threads", type=positive_int, default=THREADS,
                        help=f"torch CPU threads (default {THREADS}: these networks are small, "
                             "and more threads stall each other whenever another process keeps "
                             "a core busy; timings in docs/results.md)")
    parser.add_argument("--channels", type=positive_int, default=network.channels,
                        help=f"channels of the first cells (default {network.channels})")
    parser.add_argument("--layers", type=positive_int, default=network.layers,
                        help=f"normal cells per stage (default {network.layers})")
    parser.add_argument("--stem-stride", type=int, choices=STEM_STRIDES,
                        default=network.stem_stride,
                        help="stride of the stem convolution: 2 halves the images before the "
                             f"first cell, about twice as fast on a CPU (default "
                             f"{network.stem_stride}, as the papers)")
    parser.add_argument("--batch-size", type=positive_int, default=network.batch_size,
                        help=f"training minibatch size (default {network.batch_size})")


def check(args: argparse.Namespace, text: bool = False) -> None:
    """The data options' checks that need no file, so a command refuses them before it creates
    its run directory (``text``: a text space's corpus, :func:`.text_runs.check_text_args`)."""
    from .text_runs import check_not_text_data, check_text_options

    if text:
        check_text_options(args.data, args.data_dir)
        return
    check_not_text_data(args)
    check_data_options(args.data, args.data_dir, args.download)


def check_layers(args: argparse.Namespace, space, default: int) -> None:
    """``--layers`` (cells per stage) given to a space whose depth is its own option: refused
    rather than silently ignored."""
    if getattr(space, "cell_layers", True) or args.layers == default:
        return
    family = space.name.split(":")[0]
    raise ConfigError(f"--layers {args.layers}: {family} has no cells per stage; its depth is "
                      f"the space's, e.g. --space {family}:layers={args.layers}")


def load(args: argparse.Namespace):
    """The data set the options name, split by ``--seed``."""
    return load_data(args.data, seed=args.seed, data_dir=args.data_dir, download=args.download,
                     train_size=args.train_size)


def runtime(args: argparse.Namespace) -> Runtime:
    return Runtime(args.device, args.threads)


def claim_out(args: argparse.Namespace, what: str, keys: tuple[str, ...],
              text: bool = False) -> AbstractContextManager:
    """``--out`` / ``--resume`` checked before any data is loaded or any epoch runs: the
    directory is writable, no other process writes to it, and a fresh run finds no checkpoint
    there while a resumed run finds a readable one. The returned context holds the directory's
    lock for the run's lifetime."""
    check(args, text)  # bad data options are refused before --out is created
    check_resume(args.resume, args.out)
    if args.out is None:
        return nullcontext()
    if args.resume and not Path(args.out).exists():
        raise ConfigError(f"--resume: no checkpoint at {Path(args.out) / CHECKPOINT}; run "
                          "without --resume")
    lock = lock_run_dir(args.out, what)
    try:
        check_run_dir(args.out, args.resume, what, keys)
    except BaseException:
        lock.release()
        raise
    return lock


def interrupted(args: argparse.Namespace) -> KeyboardInterrupt:
    """A Ctrl-C that says truly what was kept: the last finished epoch is in ``--out``."""
    if args.out is None:
        return KeyboardInterrupt("interrupted; nothing was saved (pass --out DIR to keep a "
                                 "checkpoint at every epoch end)")
    return KeyboardInterrupt(f"interrupted; the finished epochs are in "
                             f"{Path(args.out) / CHECKPOINT}; run the same command with --resume "
                             "to continue")
