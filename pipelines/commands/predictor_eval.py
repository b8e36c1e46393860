"""``nao predictor-eval``: rank quality of NAO's predictor against scikit-learn baselines."""

from __future__ import annotations

import argparse
import sys
import time

from search_spaces import DEFAULT_SPACE, get_space

from ..search.predictor_eval import (
    check_n_models,
    check_nao_params,
    check_sizes,
    evaluate_predictors,
    summarize,
)
from .common import add_common, non_negative_int, parse_settings, positive_int

DEFAULT_TRAIN_SIZE = 100
DEFAULT_TEST_SIZE = 2000


def register(sub) -> None:
    p = sub.add_parser("predictor-eval", help="score NAO's predictor on held-out architectures",
                       description="Train the NAO predictor on N sampled architectures and "
                                   "score how it ranks M others (validation accuracy).")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"a search space with a table of accuracies (default {DEFAULT_SPACE})")
    p.add_argument("--train-size", type=positive_int, default=DEFAULT_TRAIN_SIZE, metavar="N",
                   help="architectures the predictor is trained on, at least 2 "
                        f"(default {DEFAULT_TRAIN_SIZE})")
    p.add_argument("--test-size", type=positive_int, default=DEFAULT_TEST_SIZE, metavar="M",
                   help="other architectures it ranks, at least 2; train and test together "
                        f"at most the table's size (default {DEFAULT_TEST_SIZE})")
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="repeat over seeds seed, seed+1, ...; report mean and std (default 1)")
    p.add_argument("--baselines", action="store_true",
                   help="also fit random forest, Gaussian process, k-NN and gradient boosting "
                        "on one-hot tokens")
    p.add_argument("--pretrain-archs", type=non_negative_int, default=0, metavar="K",
                   help="first train NAO's encoder and decoder on K further unlabelled "
                        "architectures (the nao strategy uses 1000; default 0)")
    p.add_argument("--n-models", type=positive_int, default=1, metavar="K",
                   help="score the mean prediction of K NAO models of different seeds (the "
                        "nao strategy's n_models; default 1)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="NAO estimator option, e.g. --set epochs=500")
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace):
    nao_params = check_nao_params(parse_settings(args.settings))  # before the table loads
    check_n_models(args.n_models)
    space = get_space(args.space)
    check_sizes(space, args.train_size, args.test_size)
    start = time.perf_counter()
    per_seed = []
    for k in range(args.seeds):
        if not args.quiet:
            print(f"predictor-eval: seed {args.seed + k} ({k + 1}/{args.seeds})", file=sys.stderr)
        per_seed.append(evaluate_predictors(space, args.train_size, args.test_size,
                                            args.seed + k, args.baselines, nao_params,
                                            pretrain_archs=args.pretrain_archs,
                                            n_models=args.n_models))
    out = {"space": space.name, "train_size": args.train_size, "test_size": args.test_size,
           "seeds": [args.seed + k for k in range(args.seeds)],
           "pretrain_archs": args.pretrain_archs, "n_models": args.n_models,
           **summarize(per_seed),
           "per_seed": per_seed, "wall_s": round(time.perf_counter() - start, 3)}
    rows = [("nao", out["nao"])] + list(out.get("baselines", {}).items())
    lines = [f"{space.name}: train {args.train_size}, test {args.test_size}, "
             f"{args.seeds} seed(s)", f"{'predictor':18s} {'pairwise':>9s} {'kendall':>8s} "
             f"{'spearman':>9s}"]
    for name, m in rows:
        lines.append(f"{name:18s} {m['pairwise_accuracy']:9.3f} {m['kendall_tau']:8.3f} "
                     f"{m['spearman']:9.3f}")
    lines.append(f"NAO reconstruction accuracy (held out): {out['nao']['reconstruction_accuracy']:.3f}")
    return out, "\n".join(lines)
