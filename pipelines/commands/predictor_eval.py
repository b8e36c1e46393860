"""``nao predictor-eval``: rank quality of NAO's predictor against scikit-learn baselines."""

from __future__ import annotations

import argparse
import time

from nao.estimator import NAO
from search_spaces import get_space

from ..progress import progress
from ..search.predictor_eval import (
    check_n_models,
    check_nao_params,
    check_sizes,
    evaluate_predictors,
    summarize,
)
from .common import StatusLine, parse_settings, warn


def run(args: argparse.Namespace):
    nao_params = check_nao_params(parse_settings(args.settings))  # before the table loads
    check_n_models(args.n_models)
    space = get_space(args.space)
    check_sizes(space, args.train_size, args.test_size)
    # after every check, so that a refusal is still its one line alone
    for text in NAO(None, **nao_params).slow_settings():  # type: ignore[arg-type]
        warn("predictor-eval", text)
    start = time.perf_counter()
    per_seed = []
    bar = None
    if not args.quiet:
        bar = progress(True, total=args.seeds, desc=f"predictor-eval on {space.name}",
                       unit="seed")
    line = StatusLine(bar) if bar is not None else None
    try:
        for k in range(args.seeds):
            status = None
            if line is not None:
                status = lambda text, k=k: line.status(f"seed {args.seed + k}: {text}")  # noqa: E731
            per_seed.append(evaluate_predictors(space, args.train_size, args.test_size,
                                                args.seed + k, args.baselines, nao_params,
                                                pretrain_archs=args.pretrain_archs,
                                                pretrain_epochs=args.pretrain_epochs,
                                                n_models=args.n_models, status=status))
            if line is not None:
                line.step()
    finally:
        if bar is not None:
            bar.close()
    out = {"space": space.name, "train_size": args.train_size, "test_size": args.test_size,
           "seeds": [args.seed + k for k in range(args.seeds)],
           "pretrain_archs": args.pretrain_archs, "pretrain_epochs": args.pretrain_epochs,
           "n_models": args.n_models,
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
