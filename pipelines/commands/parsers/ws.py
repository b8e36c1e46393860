"""``nao ws``'s options and the checks it makes before it imports torch (the search:
:mod:`pipelines.commands.ws`)."""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces import Buildable, BuildableLM, get_space, offering
from search_spaces import usage as space_usage

from ...oneshot import methods
from ..common import add_common, deferred, positive_int
from .defaults import NAO_ROUNDS, POOL_SIZE, WS_NETWORK
from .training import add_text_options, add_training_options, check_layers, is_text

DEFAULT_SPACE = "enas-micro"
DEFAULT_EPOCHS = 20


def check(args: argparse.Namespace) -> None:
    """What ``nao ws`` checks first, in its order: the space and the ``--layers`` it takes (the
    controller's options: when it runs)."""
    space = get_space(args.space)
    if not is_text(space):
        check_supernet(space)
        check_layers(args, space, WS_NETWORK.layers)


def check_supernet(space) -> None:
    """A space without a supernet is refused here, before any data loads."""
    if isinstance(space, Buildable) and space.has_supernet:
        return
    with_one = [name for name in offering(Buildable) if get_space(name).has_supernet]
    with_one += offering(BuildableLM)
    how = (f"; its children train from scratch: nao search --space {space.name} --data ..."
           if isinstance(space, Buildable) else "")
    raise ConfigError(f"space {space.name} has no supernet, which nao ws needs{how}; use one of: "
                      f"{', '.join(with_one)}")


def register(sub) -> None:
    p = sub.add_parser(
        "ws", help="weight-sharing search (ENAS / NAO-WS)",
        description="Train a supernet's shared weights on children from a pool, score the pool "
                    "on validation batches with those weights, let the controller ("
                    f"{', '.join(methods.names(methods.POOL))}) propose the next pool; pick "
                    "the best by validation accuracy with the shared weights. The relaxed "
                    f"controllers ({', '.join(methods.names(methods.RELAXED))}) learn a "
                    "distribution over architectures by gradient instead and pick its mode. "
                    "The test split is never used.")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"a search space with a supernet (default {DEFAULT_SPACE}); "
                        f"{space_usage()}")
    p.add_argument("--controller", default="nao", choices=list(methods.METHODS),
                   help=methods.help_text())
    p.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                   help=f"epochs of shared-weight training (default {DEFAULT_EPOCHS})")
    p.add_argument("--pool-size", type=positive_int, default=None,
                   help=f"architectures trained on and scored each epoch (default {POOL_SIZE})")
    p.add_argument("--controller-every", type=positive_int, default=None, metavar="K",
                   help="controller rounds every K epochs (default: rl every epoch, as ENAS; "
                        f"nao and random {NAO_ROUNDS} rounds spread over the run)")
    p.add_argument("--out", help="run directory: checkpoint and log.csv / log.jsonl each epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue the run checkpointed in --out from its last finished epoch")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="controller option, e.g. --set nao_params.epochs=200 --set lr=0.01")
    add_training_options(p, WS_NETWORK)
    add_text_options(p)
    add_common(p)
    p.set_defaults(run=deferred("ws", check))
