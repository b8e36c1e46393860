"""``nao ws``: weight-sharing search (ENAS, NAO-WS) with a choice of controller."""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces import get_space

from ..oneshot.lm_weight_sharing import LMWeightSharingSearch
from ..oneshot.methods import IMAGE, POOL, RELAXED, TEXT, method_for, names
from ..oneshot.one_shot_search import WHAT
from ..oneshot.relaxed_search import LMRelaxedSearch, RelaxedSearch
from ..oneshot.weight_sharing import NETWORK, POOL_SIZE, WeightSharingSearch
from ..training.network_options import NetworkOptions
from . import text_runs
from .common import parse_settings
from .data_options import check_layers, claim_out, interrupted, load
from .parsers.training import is_text

# image options a text space refuses when changed (see text_runs)
IMAGE_DEFAULTS = {"channels": NETWORK.channels, "layers": NETWORK.layers,
                  "stem_stride": NETWORK.stem_stride, "download": False}


def common_options(args: argparse.Namespace) -> dict:
    """What every search of ``nao ws`` takes from the command line, whatever its family and
    task."""
    return {"epochs": args.epochs, "controller_options": parse_settings(args.settings) or None,
            "device": args.device, "threads": args.threads, "random_state": args.seed,
            "out_dir": args.out, "resume": args.resume, "progress": not args.quiet}


def pool_options(args: argparse.Namespace) -> dict:
    """The pool controllers' own options."""
    return {"pool_size": POOL_SIZE if args.pool_size is None else args.pool_size,
            "every": args.controller_every}


def image_network(args: argparse.Namespace) -> dict:
    return NetworkOptions.from_args(args).to_dict()


def text_network(args: argparse.Namespace) -> dict:
    return {"hidden": args.hidden, "batch_size": args.batch_size, "bptt": args.bptt,
            "dropouts": text_runs.dropouts(args) or None}


def pool_search(args: argparse.Namespace, space) -> WeightSharingSearch:
    """A pool controller's search on an image space."""
    return WeightSharingSearch(space, args.controller, **image_network(args),
                               **pool_options(args), **common_options(args))


def relaxed_search(args: argparse.Namespace, space) -> RelaxedSearch:
    """A relaxed controller's search on an image space."""
    return RelaxedSearch(space, args.controller, **image_network(args), **common_options(args))


def text_pool_search(args: argparse.Namespace, space) -> LMWeightSharingSearch:
    """A pool controller's search on a text space."""
    return LMWeightSharingSearch(space, args.controller, **text_network(args),
                                 **pool_options(args), **common_options(args))


def text_relaxed_search(args: argparse.Namespace, space) -> LMRelaxedSearch:
    """A relaxed controller's search on a text space."""
    return LMRelaxedSearch(space, args.controller, **text_network(args),
                           **common_options(args))


# (family, task) -> the search it runs; every search's check() rejects bad options before any
# data loads, and its checkpoint_keys are what its run directory holds
SEARCHES = {
    (POOL, IMAGE): pool_search,
    (RELAXED, IMAGE): relaxed_search,
    (POOL, TEXT): text_pool_search,
    (RELAXED, TEXT): text_relaxed_search,
}


def run(args: argparse.Namespace):
    space = get_space(args.space)
    text = is_text(space)
    method = method_for(args.controller, space, TEXT if text else IMAGE)
    if method.family == RELAXED and (args.controller_every is not None
                                     or args.pool_size is not None):
        raise ConfigError(f"--controller {args.controller} has no pool: drop --pool-size and "
                          "--controller-every (they are for the pool controllers: "
                          f"{', '.join(names(POOL))})")
    if text:
        text_runs.check_text_args(args, IMAGE_DEFAULTS)
    else:
        check_layers(args, space, NETWORK.layers)
    search = SEARCHES[method.family, TEXT if text else IMAGE](args, space)
    search.check()
    out, summary = finish(args, search, search.checkpoint_keys, text=text)
    return out, text_runs.ws_summary(out) if text else summary


def finish(args: argparse.Namespace, search, keys: tuple[str, ...], text: bool = False):
    """Run a checked search under ``--out`` and report it."""
    try:
        with claim_out(args, WHAT, keys, text):
            data = text_runs.load(args) if text else load(args)
            out = search.fit(data).result(data)
    except KeyboardInterrupt:
        raise interrupted(args) from None
    if text:
        return out, ""
    last = out["history"][-1] if out["history"] else {}
    lines = [
        f"space     {out['space']}   controller {out['controller']}   data {data.name}   "
        f"seed {out['seed']}   device {out['device']}",
        f"epochs    {out['epochs']} in {out['wall_s']:.1f} s   last train acc "
        f"{last.get('train_acc', float('nan')):.4f}",
        f"best      {out['best']['arch']}",
        f"valid     {out['best']['valid']:.4f} (shared weights, whole validation split)",
    ]
    if "entropy" in out:  # a relaxed controller: how far its distribution has narrowed
        lines.append(f"entropy   {out['entropy']:.2f} nats (the architecture distribution)")
    return out, "\n".join(lines)
