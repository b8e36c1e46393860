"""``nao ws``: weight-sharing search (ENAS, NAO-WS) with a choice of controller."""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces import get_space

from ..oneshot.lm_weight_sharing import CHECKPOINT_KEYS as LM_KEYS
from ..oneshot.methods import IMAGE, POOL, RELAXED, TEXT, method_for, names
from ..oneshot.relaxed_search import CHECKPOINT_KEYS as RELAXED_KEYS
from ..oneshot.relaxed_search import RelaxedSearch
from ..oneshot.weight_sharing import (
    CHECKPOINT_KEYS,
    NETWORK,
    POOL_SIZE,
    WHAT,
    WeightSharingSearch,
)
from ..training.network_options import NetworkOptions
from . import text_runs
from .common import parse_settings
from .data_options import check_layers, claim_out, interrupted, load
from .parsers.training import is_text

# image options a text space refuses when changed (see text_runs)
IMAGE_DEFAULTS = {"channels": NETWORK.channels, "layers": NETWORK.layers,
                  "stem_stride": NETWORK.stem_stride, "download": False}


def relaxed_search(args: argparse.Namespace, space) -> RelaxedSearch:
    """A relaxed controller's search on an image space."""
    return RelaxedSearch(
        space, args.controller, epochs=args.epochs, **NetworkOptions.from_args(args).to_dict(),
        controller_options=parse_settings(args.settings) or None, device=args.device,
        threads=args.threads, random_state=args.seed, out_dir=args.out, resume=args.resume,
        progress=not args.quiet)


def pool_search(args: argparse.Namespace, space) -> WeightSharingSearch:
    """A pool controller's search on an image space."""
    return WeightSharingSearch(
        space, args.controller, epochs=args.epochs,
        **NetworkOptions.from_args(args).to_dict(),
        pool_size=POOL_SIZE if args.pool_size is None else args.pool_size,
        every=args.controller_every,
        controller_options=parse_settings(args.settings) or None, device=args.device,
        threads=args.threads, random_state=args.seed, out_dir=args.out, resume=args.resume,
        progress=not args.quiet)


# (family, task) -> the search it runs and the keys of its checkpoint; every search's check()
# rejects bad options before any data loads
SEARCHES = {
    (POOL, IMAGE): (pool_search, CHECKPOINT_KEYS),
    (RELAXED, IMAGE): (relaxed_search, RELAXED_KEYS),
    (POOL, TEXT): (text_runs.pool_search, LM_KEYS),
    (RELAXED, TEXT): (text_runs.relaxed_search, RELAXED_KEYS + ("torch_rng",)),
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
    build, keys = SEARCHES[method.family, TEXT if text else IMAGE]
    search = build(args, space)
    search.check()
    out, summary = finish(args, search, keys, text=text)
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
