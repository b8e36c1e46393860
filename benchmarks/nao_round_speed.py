"""Wall time of one round of the ``nao`` strategy (fit + propose) and of the README's search.

A round is what :meth:`NAOStrategy.ask` does after the random start: continue the warm-started
networks on every evaluated architecture, then propose ``round_size * candidate_factor``
candidates from the ``top_k`` best and keep the ``round_size`` the predictor ranks highest. The
pool of evaluated architectures is the first ``pool`` queries of a ``nao`` search (seed
``--seed``) on the table: its best architectures' neighbourhoods are already evaluated, which is
what makes ``propose`` search long (``--pool-from evolution`` is cheaper to build). The networks
are first fitted on all but its last ``round_size`` (the previous round), then the timed round
fits on all of it and proposes. One torch thread, median of ``--repeats``.

``--search`` also times ``nao search`` with its defaults (nao on nasbench-graph:cora, budget
100) end to end in a fresh interpreter, as a user runs it. To time older code, put its checkout
first on the path: ``PYTHONPATH=/path/to/old/checkout python benchmarks/nao_round_speed.py``.

    python benchmarks/nao_round_speed.py --spaces cora,cs --pools 50,100,200 --repeats 3 \
        --pool-cache /tmp/nao-pools --search --search-seeds 0,1,2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import nao
from nao.estimator import NAO
from pipelines.search.evaluators import TableEvaluator
from pipelines.search.loop import run_search
from pipelines.strategies.evolution import RegularizedEvolution
from pipelines.strategies.nao_strategy import NAOStrategy
from search_spaces import get_space
from search_spaces.base import Arch, SearchSpace

ROUND = 10  # the strategy's default round_size


def build_pool(space: SearchSpace, size: int, seed: int, source: str,
               cache: Path | None) -> tuple[list[Arch], list[float]]:
    """The first ``size`` distinct architectures (with their validation accuracy) of a
    ``source`` search (``nao`` or ``evolution``) on the table, read from ``cache`` when an
    earlier run wrote it there (so old and new code are timed on the same pool)."""
    path = cache / f"{space.name.replace(':', '-')}-{source}-{seed}-{size}.json" \
        if cache else None
    if path is not None and path.exists():
        blob = json.loads(path.read_text())
        return [space.from_string(a) for a in blob["archs"]], blob["scores"]
    strategy = NAOStrategy(space, random_state=seed) if source == "nao" \
        else RegularizedEvolution(space, random_state=seed)
    result = run_search(space, strategy, TableEvaluator(space), size)
    archs, scores = [h.arch for h in result.history], [h.valid for h in result.history]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"archs": archs, "scores": scores}))
    return [space.from_string(a) for a in archs], scores


def warm_strategy(space: SearchSpace, archs: list[Arch], scores: list[float],
                  seed: int, nao_params: dict | None = None) -> NAOStrategy:
    """A default ``nao`` strategy (``nao_params`` on top of its defaults) whose networks were
    fitted in the previous round (on all but the last ``ROUND`` of the pool) and that has since
    been told the whole pool."""
    strategy = NAOStrategy(space, random_state=seed, nao_params=nao_params)
    strategy.tell(archs[:-ROUND], scores[:-ROUND])
    strategy.ask(ROUND)
    strategy.tell(archs[-ROUND:], scores[-ROUND:])
    return strategy


class PhaseTimer:
    """Seconds spent in ``NAO.fit`` and ``NAO.propose`` while installed."""

    def __init__(self):
        self.seconds = {"fit": 0.0, "propose": 0.0}
        self._originals = {name: getattr(NAO, name) for name in self.seconds}

    def __enter__(self) -> PhaseTimer:
        for name, original in self._originals.items():
            setattr(NAO, name, self._timed(name, original))
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._originals.items():
            setattr(NAO, name, original)

    def _timed(self, name, original):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return wrapper


def time_round(strategy: NAOStrategy, repeats: int) -> dict:
    """Median round, fit and propose seconds over ``repeats`` copies of the same warm state,
    plus the round's proposals (identical across repeats and across equivalent code)."""
    rounds, fits, proposes, asked = [], [], [], []
    for _ in range(repeats):
        trial = copy.deepcopy(strategy)
        with PhaseTimer() as timer:
            start = time.perf_counter()
            asked = trial.ask(ROUND)
            rounds.append(time.perf_counter() - start)
        fits.append(timer.seconds["fit"])
        proposes.append(timer.seconds["propose"])
    return {"round_s": statistics.median(rounds), "fit_s": statistics.median(fits),
            "propose_s": statistics.median(proposes),
            "epochs": len(trial.model.loss_curve_),
            "asked": [strategy.space.to_string(a) for a in asked]}


def time_search(seed: int) -> dict:
    """``nao search`` with its defaults, end to end in a fresh interpreter."""
    command = [sys.executable, "-c", "import sys; from pipelines.cli import main; "
               "sys.exit(main())", "search", "--json", "--quiet", "--seed", str(seed)]
    with tempfile.TemporaryDirectory() as cwd:  # not a checkout: PYTHONPATH picks the code
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)
        wall = time.perf_counter() - start
    best = json.loads(done.stdout)["best"]
    return {"seed": seed, "wall_s": wall, "best_valid": best["valid"], "best_arch": best["arch"]}


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default="cora,cs",
                        help="nasbench-graph datasets, comma-separated")
    parser.add_argument("--pools", default="50,100,200", help="pool sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pool-from", choices=("nao", "evolution"), default="nao",
                        help="the search whose first queries are the pool (default nao)")
    parser.add_argument("--pool-cache", type=Path, default=None,
                        help="folder to keep the pools in, so another run reuses them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an estimator option for the timed rounds (nao_params), to time a "
                        "variant, e.g. --set warm_patience=10")
    parser.add_argument("--search", action="store_true",
                        help="also time `nao search` (defaults) end to end")
    parser.add_argument("--search-seeds", default="0", help="seeds of the timed searches")
    parser.add_argument("--no-rounds", action="store_true", help="skip the round timings")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    nao_params = {key: json.loads(value) for key, value in
                  (item.split("=", 1) for item in args.set)}

    rows = []
    if not args.no_rounds:
        for name in args.spaces.split(","):
            space = get_space(f"nasbench-graph:{name}")
            pools = [int(p) for p in args.pools.split(",")]
            archs, scores = build_pool(space, max(pools), args.seed, args.pool_from,
                                       args.pool_cache)
            for size in pools:
                strategy = warm_strategy(space, archs[:size], scores[:size], args.seed,
                                     nao_params)
                row = {"space": name, "pool": size, "load": load(),
                       **time_round(strategy, args.repeats)}
                row["load_after"] = load()
                rows.append(row)
                if not args.json:
                    print(f"# {name} pool {size}: {row['round_s']:.2f} s", file=sys.stderr)
    searches = []
    if args.search:
        for seed in args.search_seeds.split(","):
            before = load()
            searches.append({**time_search(int(seed)), "load": before, "load_after": load()})

    if args.json:
        print(json.dumps({"code": os.path.dirname(nao.__file__), "nao_params": nao_params,
                          "rounds": rows,
                          "searches": searches}, indent=1))
        return 0
    if rows:
        print("| space | pool | round s | fit s | propose s | fit epochs | load avg |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r['space']} | {r['pool']} | {r['round_s']:.2f} | {r['fit_s']:.2f} | "
                  f"{r['propose_s']:.2f} | {r['epochs']} | {r['load']}-{r['load_after']} |")
    if searches:
        print("\n| `nao search` seed | wall s | best valid | load avg |")
        print("|---:|---:|---:|---|")
        for s in searches:
            print(f"| {s['seed']} | {s['wall_s']:.1f} | {s['best_valid']:.4f} | "
                  f"{s['load']}-{s['load_after']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
