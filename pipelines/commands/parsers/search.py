"""``nao search``'s options (the search: :mod:`pipelines.commands.search`)."""

from __future__ import annotations

import argparse

from search_spaces import DEFAULT_SPACE
from search_spaces import usage as space_usage

from ...search.engine import DASK_INSTALL, address_problem
from ...strategies import STRATEGIES
from ...strategies.nao_strategy import PRESETS
from ..common import add_common, deferred, positive_float, positive_int
from .defaults import CHILD_BATCH_SIZE, CHILD_EPOCHS, CHILD_LR, DEVICES, IMAGE_DATASETS


def scheduler_address(text: str) -> str:
    """``--scheduler``'s ``type=``: an address of dask's form, checked before anything runs."""
    problem = address_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def register(sub) -> None:
    p = sub.add_parser("search", help="run one architecture search",
                       description="Run one search. The budget counts distinct architectures.")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"search space (default {DEFAULT_SPACE}); {space_usage()}")
    p.add_argument("--strategy", default="nao", choices=sorted(STRATEGIES),
                   help="search strategy (default nao)")
    p.add_argument("--budget", type=positive_int, default=100,
                   help="distinct architectures to evaluate (default 100)")
    p.add_argument("--out", help="run directory: every evaluation is stored there at once")
    p.add_argument("--resume", action="store_true",
                   help="continue the search stored in --out; nothing is evaluated twice")
    p.add_argument("--preset", choices=sorted(PRESETS), help="named option set (nao only)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="strategy option, e.g. --set top_k=20 --set nao_params.epochs=200")
    add_child_options(p)
    add_common(p)
    # the search module imports no torch either (a child trainer imports it when it is made),
    # so its own checks of the space and the strategy options answer at once
    p.set_defaults(run=deferred("search"))


def add_child_options(parser: argparse.ArgumentParser) -> None:
    """Options of a space whose children are trained from scratch (nas-rl), and where."""
    g = parser.add_argument_group(
        "children trained from scratch (spaces without a table, e.g. nas-rl:layers=3)")
    g.add_argument("--data", metavar="NAME",
                   help=f"data set: {', '.join(IMAGE_DATASETS)} (default digits)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="where the data set's files are (every worker reads this path)")
    g.add_argument("--train-size", type=positive_int, metavar="N",
                   help="train each child on N training images only (default: all)")
    g.add_argument("--epochs", type=positive_int,
                   help=f"epochs each child trains (default {CHILD_EPOCHS})")
    g.add_argument("--batch-size", type=positive_int,
                   help=f"training minibatch size (default {CHILD_BATCH_SIZE})")
    g.add_argument("--lr", type=positive_float,
                   help=f"children's initial learning rate, cosine to 0 (default {CHILD_LR})")
    g.add_argument("--threads", type=positive_int,
                   help="torch CPU threads per child (default 1)")
    g.add_argument("--device", choices=DEVICES, help="where children train (default cpu)")
    g.add_argument("--workers", type=positive_int, default=1,
                   help="children trained at once, in local processes (default 1: in this "
                        "process)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT", type=scheduler_address,
                   help="train children on a dask.distributed cluster instead (see "
                        f"docs/cluster.md; needs {DASK_INSTALL})")
