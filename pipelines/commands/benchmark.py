"""``nao benchmark``: every strategy over many seeds on a tabular space; a table and a plot."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from nao.errors import ConfigError
from search_spaces import DEFAULT_SPACE

from ..search.benchmark import (
    RUNS_DIR,
    check_setup,
    markdown,
    parse_strategies,
    run_benchmark,
    split_options,
    write,
)
from ..search.engine import DASK_INSTALL
from ..training.run_dir import prepare_run_dir
from .common import add_common, non_negative_int, parse_settings, positive_int
from .search import check_budget

# tpe (Optuna's TPE) is the library strategy NAO is measured against: in the default whenever
# the optional optuna is installed, left out with a note otherwise
DEFAULT_STRATEGIES = "nao,tpe,rl,evolution,random"
WITHOUT_OPTUNA = "nao,rl,evolution,random"
DEFAULT_BUDGET = 100
DEFAULT_SEEDS = 10


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="compare strategies over many seeds on a tabular space",
        description="Run every (strategy, seed) search in parallel with table lookups and "
                    "report, at several query counts, the best validation accuracy so far, the "
                    "median validation rank of that pick and its test accuracy. Writes "
                    "benchmark.md, benchmark.json and benchmark.png to --out.")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"a search space with a table (default {DEFAULT_SPACE})")
    p.add_argument("--strategies", default=None,
                   help="comma-separated strategy names; LABEL=NAME runs NAME under another "
                        "label, to compare variants, e.g. nao,nao-ens=nao --set "
                        f"nao-ens.n_models=3 (default {DEFAULT_STRATEGIES}; without optuna "
                        f"{WITHOUT_OPTUNA})")
    p.add_argument("--budget", type=positive_int, default=DEFAULT_BUDGET,
                   help=f"distinct architectures per search (default {DEFAULT_BUDGET})")
    p.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS,
                   help=f"searches per strategy (default {DEFAULT_SEEDS})")
    p.add_argument("--seed0", type=non_negative_int, default=0,
                   help="first seed; seeds are seed0 .. seed0+seeds-1 (default 0)")
    p.add_argument("--out", help="directory for benchmark.md/.json/.png and the finished "
                                 "searches in runs/, which a rerun reuses "
                                 "(default benchmark-<space>)")
    p.add_argument("--fresh", action="store_true",
                   help="search again even where --out/runs/ holds a matching finished search "
                        "(each new search replaces its saved file when it finishes)")
    p.add_argument("--workers", "--jobs", dest="jobs", type=positive_int, default=None, metavar="N",
                   help="parallel searches, in local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the searches on a dask.distributed cluster instead (see "
                        f"docs/cluster.md; needs {DASK_INSTALL})")
    p.add_argument("--set", action="append", metavar="STRATEGY.KEY=VALUE", dest="settings",
                   help="strategy option, e.g. --set nao.top_k=20 --set rl.lr=0.01")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def default_strategies(quiet: bool) -> str:
    """Every strategy, tpe only where optuna is installed (it is an optional extra)."""
    if importlib.util.find_spec("optuna") is not None:
        return DEFAULT_STRATEGIES
    if not quiet:
        print("benchmark: tpe left out (optuna is not installed; pip install -e '.[optuna]')",
              file=sys.stderr)
    return WITHOUT_OPTUNA


def run(args: argparse.Namespace):
    if args.scheduler is not None and args.jobs is not None:
        raise ConfigError("--scheduler runs the searches on the cluster's workers; drop "
                          "--workers (start more dask workers instead)")
    strategies = parse_strategies(args.strategies or default_strategies(args.quiet))
    options = split_options(parse_settings(args.settings), strategies)
    space, _ = check_setup(args.space, strategies, options, args.seed0)  # before any search
    check_budget(space, args.budget)
    out_dir = Path(args.out or f"benchmark-{args.space.replace(':', '-')}")
    prepare_run_dir(out_dir)
    n_runs = len(strategies) * args.seeds
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=n_runs, desc=f"benchmark on {args.space}", unit="search",
                   file=sys.stderr, dynamic_ncols=True)

    def on_done(run) -> None:
        if bar is not None:
            bar.set_postfix(last=f"{run.strategy}/{run.seed}", refresh=False)
            bar.update(1)

    cache_dir = out_dir / RUNS_DIR
    try:
        report = run_benchmark(args.space, strategies, args.budget, args.seeds, args.seed0,
                               options, n_jobs=args.jobs or -1, on_done=on_done,
                               cache_dir=cache_dir, reuse=not args.fresh,
                               scheduler=args.scheduler)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted; every finished search is in {cache_dir}, and the "
                                "same command continues from them") from None
    finally:
        if bar is not None:
            bar.close()
    paths = write(report, out_dir)
    reused = sum(r["reused"] for r in report["runs"])
    summary = markdown(report) + (f"\nwrote {', '.join(str(p) for p in paths.values())} "
                                  f"in {report['wall_s']:.1f} s"
                                  + (f" ({reused} searches reused from {cache_dir})"
                                     if reused else ""))
    return report, summary
