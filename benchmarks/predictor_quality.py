"""Predictor quality on NAS-Bench-Graph: the table in docs/results.md, regenerated from scratch.

    python benchmarks/predictor_quality.py                       # cora, citeseer, pubmed; 5 seeds
    python benchmarks/predictor_quality.py --datasets cora --seeds 1 --test-size 200   # quick

For each dataset and seed, NAO (the estimator's defaults; with the pairwise rank loss that the
``nao`` strategy adds; and with the paper's min-max targets and layer sizes) and the
scikit-learn baselines are trained on the same ``--train-size`` sampled architectures and scored on the same ``--test-size`` others, as ``nao predictor-eval`` does.
Prints one Markdown table (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import time

from joblib import Parallel, delayed

from pipelines.search.predictor_eval import evaluate_predictors, summarize
from search_spaces import get_space

PAPER = {"embedding_size": 48, "hidden_size": 96, "mlp_hidden_size": 200,
         "target_transform": "minmax"}
RANK = {"rank_loss_weight": 1.0}  # what the nao strategy adds to the estimator's defaults
METRICS = ("pairwise_accuracy", "kendall_tau", "spearman")


def one(dataset: str, seed: int, train: int, test: int) -> dict:
    space = get_space(f"nasbench-graph:{dataset}")
    out = evaluate_predictors(space, train, test, seed, with_baselines=True)
    paper = evaluate_predictors(space, train, test, seed, nao_params=PAPER)
    out["paper"] = paper["nao"]
    out["rank"] = evaluate_predictors(space, train, test, seed, nao_params=RANK)["nao"]
    return out


def fmt(m: dict, key: str) -> str:
    return f"{m[key]:.3f} ± {m[key + '_std']:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="cora,citeseer,pubmed")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--train-size", type=int, default=100)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--jobs", type=int, default=-1)
    args = p.parse_args()
    start = time.perf_counter()
    datasets = args.datasets.split(",")
    runs = Parallel(n_jobs=args.jobs)(
        delayed(one)(d, s, args.train_size, args.test_size) for d in datasets
        for s in range(args.seeds))
    print(f"train {args.train_size}, test {args.test_size}, seeds 0-{args.seeds - 1}; "
          f"mean ± std over seeds\n")
    print("| dataset | predictor | pairwise acc. | Kendall tau | Spearman | reconstruction |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for i, dataset in enumerate(datasets):
        per_seed = runs[i * args.seeds:(i + 1) * args.seeds]
        summary = summarize(per_seed)
        paper = summarize([{"nao": r["paper"]} for r in per_seed])["nao"]
        rank = summarize([{"nao": r["rank"]} for r in per_seed])["nao"]
        rows = [("nao", summary["nao"]), ("nao, rank loss 1 (the `nao` strategy's)", rank),
                ("nao, paper targets/sizes", paper)]
        rows += list(summary["baselines"].items())
        for name, m in rows:
            rec = fmt(m, "reconstruction_accuracy") if "reconstruction_accuracy" in m else ""
            print(f"| {dataset} | {name} | " + " | ".join(fmt(m, k) for k in METRICS)
                  + f" | {rec} |")
    print(f"\nwall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
