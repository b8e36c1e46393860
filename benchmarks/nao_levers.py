"""Measure levers of the NAO strategy beside the default ``nao``, ``tpe`` and ``evolution``.

    python benchmarks/nao_levers.py --datasets cora --seeds 5 --levers mut,pre --out /tmp/levers
    python benchmarks/nao_levers.py --levers mutpre,init20 --set nao-init20.top_k=10
    python benchmarks/nao_levers.py --levers i10 --against tpe,evolution,rl,random --seeds 20 \
        --budgets 25,50,100,200 --out /tmp/levers

Each lever is a variant label of ``nao`` with its options (``LEVERS``) added to NAO with every
lever off, ``n_init`` 30, ``top_k`` 20 and ``warm_patience`` 20 (``BEFORE``, the settings the
levers were first measured on; the ``old`` lever adds nothing); the searches run through
``nao benchmark``'s machinery, so finished ones are kept in OUT/<dataset>/runs/ and a second
call with more levers or seeds runs only the new searches. Prints one Markdown table: per
dataset and variant, mean best validation accuracy and median validation rank at each budget,
the change against ``nao`` at the largest budget, and the mean wall time of one search. Tune
on the development datasets only (cora, citeseer, pubmed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pipelines.commands.common import parse_settings
from pipelines.options import deep_merge
from pipelines.search.benchmark import RUNS_DIR, run_benchmark, split_options
from pipelines.strategies.nao_strategy import LEVERS_OFF

PRETRAIN = {"pretrain_archs": 1000, "pretrain_epochs": 20}
# every lever is added to NAO with the levers off, 30 random starts, the 20 best as seeds and
# warm_patience 20
BEFORE = deep_merge(LEVERS_OFF, {"n_init": 30, "top_k": 20, "nao_params": {"warm_patience": 20}})
RANK_WP10 = {"nao_params": {"rank_loss_weight": 1.0, "warm_patience": 10}}
LEVERS: dict[str, dict] = {
    "old": {},  # every lever off
    "mut": {"mutation_candidates": 30},
    "ucb": {"n_models": 3, "acquisition": "ucb"},
    "thompson": {"n_models": 3, "acquisition": "thompson"},
    "rank": {"nao_params": {"rank_loss_weight": 1.0}},
    "pre": PRETRAIN,
    "init10": {"n_init": 10},
    "init20": {"n_init": 20},
    "mutpre": {"mutation_candidates": 30, **PRETRAIN},
    # combinations of rank loss and warm_patience 10 with mutations, pre-training, a smaller start
    "r": RANK_WP10,
    "rm": {**RANK_WP10, "mutation_candidates": 10},
    "rmp": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN},
    "rmi": {**RANK_WP10, "mutation_candidates": 10, "n_init": 20},
    # rounds of 5 (twice the refits), a smaller start, more mutations
    "rmp5": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "round_size": 5},
    "rmp5i20": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "round_size": 5,
                "n_init": 20},
    "rm30p": {**RANK_WP10, "mutation_candidates": 30, **PRETRAIN},
    # SemiNAS pseudo-labels on rmp, with the full and a smaller start
    "rmps": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "pseudo_labels": 300},
    "rmpsi20": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "pseudo_labels": 300,
                "n_init": 20},
    # on rmp at about its cost: more mutations of the seeds, or more decoded candidates
    "rmpm20": {**RANK_WP10, "mutation_candidates": 20, **PRETRAIN},
    "rmpc5": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "candidate_factor": 5.0},
    # on rmpc5: both levers (rmpm20c5: the default nao strategy's options), and rounds of 5
    # (what helped cora late)
    "rmpm20c5": {**RANK_WP10, "mutation_candidates": 20, **PRETRAIN, "candidate_factor": 5.0},
    "rmpc5r5": {**RANK_WP10, "mutation_candidates": 10, **PRETRAIN, "candidate_factor": 5.0,
                "round_size": 5},
    # the default (rmpm20c5) ranking candidates by the mean prediction over equivalent token
    # sequences (the estimator's predict_symmetries), not their own only
    "rmpm20c5t": {"nao_params": {**RANK_WP10["nao_params"], "predict_symmetries": 4},
                  "mutation_candidates": 20, **PRETRAIN, "candidate_factor": 5.0},
}
# steering early: rmpm20c5 with a smaller random start (i10: the default nao strategy's
# options), and rounds of 5
DEFAULT_LEVERS = LEVERS["rmpm20c5"]
LEVERS.update({
    "i10": {**DEFAULT_LEVERS, "n_init": 10},
    "i10r5": {**DEFAULT_LEVERS, "n_init": 10, "round_size": 5},
    "i15r5": {**DEFAULT_LEVERS, "n_init": 15, "round_size": 5},
    # and unseen random architectures among the candidates the predictor ranks (far from the
    # seeds, where a predictor fitted on few may still see a good op or link)
    "i10r5rc": {**DEFAULT_LEVERS, "n_init": 10, "round_size": 5, "random_candidates": 100},
    # transfer from the other development tables (OTHERS: the other datasets of --datasets),
    # with the small start it needs to show early; a label of its own, never the default
    "tri10": {**DEFAULT_LEVERS, "n_init": 10, "transfer": "OTHERS"},
    # the default (i10) with 32 pre-training architectures reconstructed in every minibatch of
    # each fit (nao_params.replay): the decoder keeps generalising on spaces where it forgets
    "i10rp": {**DEFAULT_LEVERS, "n_init": 10,
              "nao_params": {**DEFAULT_LEVERS["nao_params"], "replay": 32}},
    # i10 with the 5 best as seeds instead of 20 (embedding steps and mutations around fewer,
    # better architectures): the default nao
    "i10t5": {**DEFAULT_LEVERS, "n_init": 10, "top_k": 5},
    # and one seed per 20 evaluated architectures, up to 5 (top_k_ramp): measured, not adopted
    "i10t5r20": {**DEFAULT_LEVERS, "n_init": 10, "top_k": 5, "top_k_ramp": 20},
})
OTHERS = "OTHERS"
BASELINES = ("nao", "tpe", "evolution")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="cora,citeseer,pubmed")
    p.add_argument("--levers", default=",".join(LEVERS), help=f"of {', '.join(LEVERS)}")
    p.add_argument("--budgets", default="50,100", help="query counts to report (50,100)")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (10)")
    p.add_argument("--jobs", type=int, default=2, help="parallel searches (2)")
    p.add_argument("--out", type=Path, default=Path("levers"), help="output directory")
    p.add_argument("--against", default="",
                   help="strategies (e.g. tpe,evolution,rl,random; LABEL=NAME for a variant, "
                        "its options by --set LABEL.KEY=VALUE) to compare each lever with, "
                        "paired by seed: a second table of the lever minus the best of them")
    p.add_argument("--set", action="append", dest="settings", metavar="LABEL.KEY=VALUE",
                   help="more options for a variant (label nao-LEVER)")
    return p.parse_args(argv)


def variants(levers: list[str], settings: list[str] | None,
             against: tuple[str, ...] = ()) -> tuple[list[str], dict]:
    """Strategy entries and options by label, the baselines (and ``against``) first."""
    unknown = [name for name in levers if name not in LEVERS]
    if unknown:
        sys.exit(f"unknown lever {unknown[0]}; choose from {', '.join(LEVERS)}")
    baselines = [*BASELINES, *(a for a in against if a not in BASELINES)]
    strategies = [*baselines, *(f"nao-{name}=nao" for name in levers)]
    options = {f"nao-{name}": deep_merge(BEFORE, LEVERS[name]) for name in levers}
    extra = split_options(parse_settings(settings or []), strategies)
    for label, opts in extra.items():
        options.setdefault(label, {}).update(opts)
    return strategies, options


def with_sources(options: dict, others: list[str]) -> dict:
    """``transfer`` OTHERS of a lever as the other datasets' tables."""
    return {label: {**opts, "transfer": others} if opts.get("transfer") == OTHERS else opts
            for label, opts in options.items()}


def rows(report: dict, budgets: list[int]) -> list[str]:
    dataset = report["space"].split(":")[-1]
    base = report["results"]["nao"]["curve"][budgets[-1] - 1]
    out = []
    for label, res in report["results"].items():
        cells = []
        for q in budgets:
            point = res["curve"][q - 1]
            cells += [f"{point['mean_valid']:.4f}", f"{point['median_valid_rank']:g}"]
        last = res["curve"][budgets[-1] - 1]
        delta = (f"{last['mean_valid'] - base['mean_valid']:+.4f} / "
                 f"{last['median_valid_rank'] - base['median_valid_rank']:+g}")
        out.append(f"| {dataset} | {label} | {' | '.join(cells)} | {delta} | "
                   f"{res['mean_wall_s']:.0f} |")
    return out


def best_so_far(path: Path) -> np.ndarray:
    """A saved search's best validation accuracy after each query."""
    return np.maximum.accumulate(np.asarray(json.loads(path.read_text())["valid"], float))


def paired_rows(runs: Path, dataset: str, labels: list[str], against: list[str],
                budgets: list[int], seeds: int) -> list[str]:
    """Per lever (``labels``, ``nao`` first) and budget: its mean best validation, the best of
    ``against`` by mean, and the lever minus it paired by seed (+- standard error)."""
    curves = {label: [best_so_far(runs / f"{label}-seed{k}.json") for k in range(seeds)]
              for label in [*labels, *against]}
    out = []
    for label in labels:
        for q in budgets:
            mine = np.array([c[q - 1] for c in curves[label]])
            means = {a: float(np.mean([c[q - 1] for c in curves[a]])) for a in against}
            best = max(means, key=means.get)
            diff = mine - np.array([c[q - 1] for c in curves[best]])
            err = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            out.append(f"| {dataset} | {label} | {q} | {mine.mean():.4f} | {best} "
                       f"{means[best]:.4f} | {diff.mean():+.4f} ± {err:.4f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    against = [x for x in args.against.split(",") if x]
    levers = [x for x in args.levers.split(",") if x]
    strategies, options = variants(levers, args.settings, tuple(against))
    paired = ["| dataset | variant | queries | mean valid | best other | minus best other |",
              "| --- | --- | ---: | ---: | --- | ---: |"]
    head = " | ".join(f"mean valid @{q} | median rank @{q}" for q in budgets)
    lines = [f"| dataset | variant | {head} | vs nao @{budgets[-1]} (mean / rank) | s/search |",
             "| --- | --- |" + " ---: |" * (2 * len(budgets) + 2)]
    datasets = args.datasets.split(",")
    for dataset in datasets:
        others = [f"nasbench-graph:{d}" for d in datasets if d != dataset]
        report = run_benchmark(f"nasbench-graph:{dataset}", strategies, budgets[-1], args.seeds,
                               options=with_sources(options, others), n_jobs=args.jobs,
                               cache_dir=args.out / dataset / RUNS_DIR)
        lines += rows(report, budgets)
        if against:
            paired += paired_rows(args.out / dataset / RUNS_DIR, dataset,
                                  ["nao", *(f"nao-{name}" for name in levers)],
                                  [a.split("=")[0] for a in against], budgets, args.seeds)
    print(f"{args.seeds} seeds; s/search is the mean wall time of one {budgets[-1]}-query "
          "search (an estimate for reused longer ones)\n")
    print("\n".join(lines))
    if against:
        print(f"\nagainst the best of {', '.join(against)} at each budget, paired by seed:\n")
        print("\n".join(paired))
    return 0


if __name__ == "__main__":
    sys.exit(main())
