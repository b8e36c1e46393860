"""Options and checks of the commands that train networks (``nao ws``, ``nao train``) that
need neither torch nor data: the image options, a text space's options, and the checks a
command makes before it imports what trains."""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces.base import BuildableLM, SearchSpace

from ...training.network_options import NetworkOptions
from ..common import positive_int
from .defaults import BPTT, DEVICES, IMAGE_DATASETS, LM_HIDDEN, STEM_STRIDES

# One thread by default: on a shared CPU torch's threads spin-wait on each other (measured in
# docs/results.md); a user with idle cores to spare can raise it.
THREADS = 1


def add_training_options(parser: argparse.ArgumentParser, network: NetworkOptions) -> None:
    """--data, --data-dir, --download, --train-size, --device, --threads, and the
    :class:`NetworkOptions` (--channels, --layers, --stem-stride, --batch-size) with the
    command's defaults; :meth:`NetworkOptions.from_args` reads them back."""
    parser.add_argument("--data", default="digits", metavar="NAME",
                        help=f"data set: {', '.join(IMAGE_DATASETS)} (standin:CxHxW sets the "
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


def add_text_options(parser: argparse.ArgumentParser) -> None:
    """--hidden, --bptt and --dropout, read only by a text space."""
    parser.add_argument("--hidden", type=positive_int, default=LM_HIDDEN,
                        help=f"text spaces: hidden = embedding size of the language model "
                             f"(default {LM_HIDDEN})")
    parser.add_argument("--bptt", type=positive_int, default=BPTT,
                        help=f"text spaces: words per BPTT segment (default {BPTT})")
    parser.add_argument("--dropout", action="append", metavar="NAME=RATE", dest="dropouts",
                        help="text spaces: a dropout of the language model, e.g. --dropout "
                             "dropout=0.3 (names: dropout, dropouth, dropoutx, dropouti, "
                             "dropoute; default: DARTS's search settings)")


def is_text(space: SearchSpace) -> bool:
    """A space whose networks are language models (``enas-rnn``): its commands train on text."""
    return isinstance(space, BuildableLM)


def check_layers(args: argparse.Namespace, space, default: int) -> None:
    """``--layers`` (cells per stage) given to a space whose depth is its own option: refused
    rather than silently ignored."""
    if getattr(space, "cell_layers", True) or args.layers == default:
        return
    family = space.name.split(":")[0]
    raise ConfigError(f"--layers {args.layers}: {family} has no cells per stage; its depth is "
                      f"the space's, e.g. --space {family}:layers={args.layers}")
