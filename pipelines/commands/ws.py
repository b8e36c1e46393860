"""``nao ws``: weight-sharing search (ENAS, NAO-WS) with a choice of controller."""

from __future__ import annotations

import argparse

from nao.errors import ConfigError
from search_spaces import get_space
from search_spaces import usage as space_usage

from ..oneshot.lm_weight_sharing import CHECKPOINT_KEYS as LM_KEYS
from ..oneshot.relaxed_search import CHECKPOINT_KEYS as RELAXED_KEYS
from ..oneshot.relaxed_search import RELAXED_CONTROLLERS, RelaxedSearch
from ..oneshot.weight_sharing import (
    CHECKPOINT_KEYS,
    CONTROLLERS,
    NAO_ROUNDS,
    NETWORK,
    POOL_SIZE,
    WHAT,
    WeightSharingSearch,
)
from ..training.network_options import NetworkOptions
from . import text_runs
from .common import add_common, parse_settings, positive_int
from .data_options import add_training_options, check_layers, claim_out, interrupted, load

DEFAULT_SPACE = "enas-micro"
# image options a text space refuses when changed (see text_runs)
IMAGE_DEFAULTS = {"channels": NETWORK.channels, "layers": NETWORK.layers,
                  "stem_stride": NETWORK.stem_stride, "download": False}
DEFAULT_EPOCHS = 20


def register(sub) -> None:
    p = sub.add_parser(
        "ws", help="weight-sharing search (ENAS / NAO-WS)",
        description="Train a supernet's shared weights on children from a pool, score the pool "
                    "on validation batches with those weights, let the controller (nao, rl or "
                    "random) propose the next pool; pick the best by validation accuracy with "
                    "the shared weights. The relaxed controllers (darts, snas, sf, relax, "
                    "ram) learn a distribution over architectures by gradient instead and pick "
                    "its mode. The test split is never used.")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"a search space with a supernet (default {DEFAULT_SPACE}); "
                        f"{space_usage()}")
    p.add_argument("--controller", default="nao", choices=CONTROLLERS + RELAXED_CONTROLLERS,
                   help="what proposes architectures (default nao); darts, snas, sf, relax, "
                        "ram: gradient-based (--set arch_lr=, warmup_epochs=, darts.order=2, "
                        "snas.tau_min=, sf.baseline_decay=, relax.hidden=, ram.decisions=)")
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
    add_training_options(p, NETWORK)
    text_runs.add_text_options(p)
    add_common(p)
    p.set_defaults(run=run)


def relaxed_search(args: argparse.Namespace, space) -> RelaxedSearch:
    """A relaxed controller's search; the pool options are refused (it has no pool)."""
    if args.controller_every is not None or args.pool_size is not None:
        raise ConfigError(f"--controller {args.controller} has no pool: drop --pool-size and "
                          "--controller-every (they are for nao, rl and random)")
    search = RelaxedSearch(
        space, args.controller, epochs=args.epochs, **NetworkOptions.from_args(args).to_dict(),
        controller_options=parse_settings(args.settings) or None, device=args.device,
        threads=args.threads, random_state=args.seed, out_dir=args.out, resume=args.resume,
        progress=not args.quiet)
    search.check()  # reject bad options before loading data
    return search


def run(args: argparse.Namespace):
    space = get_space(args.space)
    if text_runs.is_text(space):  # enas-rnn: a language-model supernet on a text corpus
        search = text_runs.ws_search(args, space, IMAGE_DEFAULTS)
        out, _ = finish(args, search, LM_KEYS, text=True)
        return out, text_runs.ws_summary(out)
    check_layers(args, space, NETWORK.layers)
    if args.controller in RELAXED_CONTROLLERS:
        return finish(args, relaxed_search(args, space), RELAXED_KEYS)
    search = WeightSharingSearch(
        space, args.controller, epochs=args.epochs,
        **NetworkOptions.from_args(args).to_dict(),
        pool_size=POOL_SIZE if args.pool_size is None else args.pool_size,
        every=args.controller_every,
        controller_options=parse_settings(args.settings) or None, device=args.device,
        threads=args.threads, random_state=args.seed, out_dir=args.out, resume=args.resume,
        progress=not args.quiet)
    search.policy()  # reject bad options before loading data
    return finish(args, search, CHECKPOINT_KEYS)


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
