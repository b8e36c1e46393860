"""Predictor quality on NAS-Bench-Graph: the table in docs/results.md, regenerated from scratch.

    python benchmarks/predictor_quality.py                       # cora, citeseer, pubmed; 5 seeds
    python benchmarks/predictor_quality.py --datasets cora --seeds 1 --test-size 200   # quick
    python benchmarks/predictor_quality.py --variants search --no-baselines   # one NAO row

For each dataset and seed, NAO variants (``VARIANTS``: the estimator's defaults; with the
pairwise rank loss; with rank loss and encoder/decoder pre-trained on 1,000 unlabelled
architectures; the same scoring each architecture's own token sequence only, as the ``nao``
search does; an ensemble of 3 such models, their mean prediction; with the paper's min-max
targets and layer sizes) and the
scikit-learn baselines are trained on the same ``--train-size`` sampled architectures and
scored on the same ``--test-size`` others, as ``nao predictor-eval`` does.
Prints one Markdown table (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from joblib import Parallel, delayed

from pipelines.search.predictor_eval import (
    baseline_scores,
    evaluate_predictors,
    labelled_split,
    summarize,
)
from search_spaces import get_space

PAPER = {"embedding_size": 48, "hidden_size": 96, "mlp_hidden_size": 200,
         "target_transform": "minmax", "predict_symmetries": 1}
RANK = {"rank_loss_weight": 1.0}  # what the nao strategy adds to the estimator's defaults
OWN = {"predict_symmetries": 1}  # the nao strategy scores each candidate's own sequence
# label -> (row name, nao_params, pretrain_archs, n_models)
VARIANTS: dict[str, tuple[str, dict, int, int]] = {
    "default": ("nao", {}, 0, 1),
    "rank": ("nao, rank loss 1", RANK, 0, 1),
    "pretrained": ("nao, rank loss 1 + pre-training 1000", RANK, 1000, 1),
    "search": ("nao, rank loss 1 + pre-training 1000, own sequence only (the `nao` search's)",
               {**RANK, **OWN}, 1000, 1),
    "ensemble3": ("nao, rank loss 1 + pre-training 1000, ensemble of 3", RANK, 1000, 3),
    "paper": ("nao, paper targets/sizes, own sequence only", PAPER, 0, 1),
}
METRICS = ("pairwise_accuracy", "kendall_tau", "spearman")


def one(dataset: str, seed: int, train: int, test: int, variants: list[str],
        baselines: bool) -> dict:
    space = get_space(f"nasbench-graph:{dataset}")
    out: dict = {}
    if baselines:  # the same sets evaluate_predictors draws for this seed, without a NAO fit
        split = labelled_split(space, train, test, np.random.default_rng(seed))
        out["baselines"] = baseline_scores(space, *split, seed)
    for label in variants:
        _name, params, pretrain, n_models = VARIANTS[label]
        out[label] = evaluate_predictors(space, train, test, seed, nao_params=params,
                                         pretrain_archs=pretrain, n_models=n_models)["nao"]
    return out


def mean_std(scores: list[dict]) -> dict:
    """One predictor's metrics over seeds, with ``*_std`` beside each."""
    return summarize([{"nao": s} for s in scores])["nao"]


def fmt(m: dict, key: str) -> str:
    return f"{m[key]:.3f} ± {m[key + '_std']:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="cora,citeseer,pubmed")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--train-size", type=int, default=100)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    p.add_argument("--no-baselines", action="store_true", help="NAO rows only")
    p.add_argument("--jobs", type=int, default=-1)
    args = p.parse_args()
    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        sys.exit(f"unknown variant {unknown[0]}; choose from {', '.join(VARIANTS)}")
    start = time.perf_counter()
    datasets = args.datasets.split(",")
    runs = Parallel(n_jobs=args.jobs)(
        delayed(one)(d, s, args.train_size, args.test_size, variants, not args.no_baselines)
        for d in datasets for s in range(args.seeds))
    print(f"train {args.train_size}, test {args.test_size}, seeds 0-{args.seeds - 1}; "
          f"mean ± std over seeds\n")
    print("| dataset | predictor | pairwise acc. | Kendall tau | Spearman | reconstruction |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for i, dataset in enumerate(datasets):
        per_seed = runs[i * args.seeds:(i + 1) * args.seeds]
        rows = [(VARIANTS[v][0], mean_std([r[v] for r in per_seed])) for v in variants]
        if not args.no_baselines:
            rows += [(name, mean_std([r["baselines"][name] for r in per_seed]))
                     for name in per_seed[0]["baselines"]]
        for name, m in rows:
            rec = fmt(m, "reconstruction_accuracy") if "reconstruction_accuracy" in m else ""
            print(f"| {dataset} | {name} | " + " | ".join(fmt(m, k) for k in METRICS)
                  + f" | {rec} |")
    print(f"\nwall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
