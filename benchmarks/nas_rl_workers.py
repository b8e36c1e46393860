"""nas-rl children trained from scratch: wall time of one search with 1 and 2 local worker
processes and on a dask LocalCluster of 2 single-threaded worker processes, then nao vs rl vs
random picks and their test accuracy after retraining from scratch.

Each child is a ``nas-rl:layers=3`` network trained for ``--epochs`` epochs on digits (one torch
thread per child), scored by validation accuracy; a search evaluates ``--budget`` distinct
children. The timing runs use the random strategy, whose asks do not depend on the scores, so
the three runs train the same children (the script checks that they found the same scores). The
picks of nao (``n_init`` 10, rounds of 5, so it fits twice within the budget), rl (batches of 5)
and random are then retrained from scratch for ``--retrain-epochs`` epochs with the run's seed and
scored once on the test split, for seeds 0..``--seeds``-1.

    python benchmarks/nas_rl_workers.py --budget 20 --epochs 2 --retrain-epochs 10 --seeds 3 \
        --out benchmarks/results/nas_rl_workers.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from pipelines.search.engine import DaskEngine, LocalEngine, SerialEngine
from pipelines.search.loop import run_search
from pipelines.search.train_evaluator import ChildTraining, DataSpec, TrainEvaluator, train_child
from pipelines.strategies import make_strategy
from search_spaces import get_space

SPACE = "nas-rl:layers=3"
STRATEGY_OPTIONS = {"nao": {"n_init": 10, "round_size": 5, "top_k": 5},
                    "rl": {"batch_size": 5}, "random": {"batch_size": 5}}


def search(space, evaluator, strategy: str, budget: int, seed: int, engine):
    st = make_strategy(strategy, space, random_state=seed, **STRATEGY_OPTIONS[strategy])
    return run_search(space, st, evaluator, budget, strategy_name=strategy, seed=seed,
                      engine=engine)


def timings(space, evaluator, budget: int, seed: int) -> dict:
    from distributed import LocalCluster

    out = {}
    scores = {}
    engines = {
        "1 process": lambda: SerialEngine(evaluator),
        "2 local workers": lambda: LocalEngine(evaluator, 2),
    }
    for label, make in engines.items():
        start = time.perf_counter()
        result = search(space, evaluator, "random", budget, seed, make())
        out[label] = round(time.perf_counter() - start, 1)
        scores[label] = sorted((h.arch, h.valid) for h in result.history)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster:
        start = time.perf_counter()
        result = search(space, evaluator, "random", budget, seed,
                        DaskEngine(evaluator, cluster.scheduler_address))
        out["LocalCluster, 2 workers"] = round(time.perf_counter() - start, 1)
        scores["LocalCluster"] = sorted((h.arch, h.valid) for h in result.history)
    out["same scores"] = len({json.dumps(s) for s in scores.values()}) == 1
    return out


def evaluator_for(space, seed: int, epochs: int) -> TrainEvaluator:
    return TrainEvaluator(space, DataSpec("digits", seed=seed),
                          ChildTraining(epochs=epochs, threads=1), seed=seed)


def picks(space, evaluator, budget: int, seed: int, retrain_epochs: int, workers: int) -> dict:
    out = {}
    retrain = replace(evaluator.training, epochs=retrain_epochs)
    for strategy in ("nao", "rl", "random"):
        start = time.perf_counter()
        engine = LocalEngine(evaluator, workers) if workers > 1 else SerialEngine(evaluator)
        result = search(space, evaluator, strategy, budget, seed, engine)
        wall = time.perf_counter() - start
        best = result.best
        job = replace(evaluator.job(space.from_string(best["arch"])), training=retrain)
        again = train_child(job)
        out[strategy] = {"arch": best["arch"], "valid": round(best["valid"], 4),
                         "test_in_search": round(best["test"], 4),
                         "retrained_test": round(again.test, 4),
                         "retrained_params": again.info["params"],
                         "mean_valid": round(sum(h.valid for h in result.history)
                                             / len(result.history), 4),
                         "search_wall_s": round(wall, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--retrain-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="of the timing runs")
    parser.add_argument("--seeds", type=int, default=1,
                        help="strategy comparison over seeds 0..N-1 (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="for the strategy comparison")
    parser.add_argument("--skip-timings", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    space = get_space(SPACE)
    evaluator = evaluator_for(space, args.seed, args.epochs)
    report = {"space": SPACE, "data": "digits", "budget": args.budget, "epochs": args.epochs,
              "retrain_epochs": args.retrain_epochs, "seed": args.seed,
              "load_average_at_start": os.getloadavg()[0]}
    if not args.skip_timings:
        report["wall_s"] = timings(space, evaluator, args.budget, args.seed)
        print(json.dumps(report["wall_s"]), flush=True)
    report["picks"] = {seed: picks(space, evaluator_for(space, seed, args.epochs), args.budget,
                                   seed, args.retrain_epochs, args.workers)
                       for seed in range(args.seeds)}
    report["mean_over_seeds"] = {
        strategy: {key: round(sum(p[strategy][key] for p in report["picks"].values())
                              / args.seeds, 4)
                   for key in ("valid", "retrained_test", "mean_valid", "search_wall_s")}
        for strategy in ("nao", "rl", "random")}
    report["load_average_at_end"] = os.getloadavg()[0]
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
