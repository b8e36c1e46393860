"""``nao benchmark``: every strategy over many seeds on a tabular space; a table and a plot."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from nao.errors import ConfigError

from ..progress import progress
from ..search.benchmark import (
    RUNS_DIR,
    check_seeds,
    check_setup,
    markdown,
    parse_strategies,
    run_benchmark,
    split_options,
    write,
)
from ..search.store import Store
from ..training.run_dir import lock_run_dir
from .common import parse_settings
from .parsers.benchmark import DEFAULT_STRATEGIES, WITHOUT_OPTUNA
from .search import check_budget


def default_strategies(quiet: bool) -> str:
    """Every strategy, tpe only where optuna is installed (it is an optional extra)."""
    if importlib.util.find_spec("optuna") is not None:
        return DEFAULT_STRATEGIES
    if not quiet:
        print("benchmark: tpe left out (optuna is not installed; pip install -e '.[optuna]')",
              file=sys.stderr)
    return WITHOUT_OPTUNA


def run(args: argparse.Namespace):
    check_seeds(args.seeds)  # before anything is loaded or created
    if args.scheduler is not None and args.jobs is not None:
        raise ConfigError("--scheduler runs the searches on the cluster's workers; drop "
                          "--workers (start more dask workers instead)")
    strategies = parse_strategies(args.strategies or default_strategies(args.quiet))
    options = split_options(parse_settings(args.settings), strategies)
    space, _ = check_setup(args.space, strategies, options, args.seed0)  # before any search
    check_budget(space, args.budget)
    out_dir = Path(args.out or f"benchmark-{args.space.replace(':', '-')}")
    check_not_a_search(out_dir)  # before the directory is created or locked
    with lock_run_dir(out_dir, "nao benchmark"):  # the lock nao search --out takes
        check_not_a_search(out_dir)  # a search may have made its store meanwhile
        return benchmark_into(args, strategies, options, out_dir)


def check_not_a_search(out_dir: Path) -> None:
    """A benchmark writes beside no search store: refused, the store untouched."""
    store = out_dir / Store.FILENAME
    if store.exists():
        raise ConfigError(f"--out {out_dir} holds a search store ({store}); a benchmark writes "
                          "its own files, so choose another --out")


def benchmark_into(args: argparse.Namespace, strategies: list[str], options: dict,
                   out_dir: Path):
    """The searches and the report, written to ``out_dir`` (whose lock the caller holds)."""
    n_runs = len(strategies) * args.seeds
    # a bar on a terminal, a line per finished search in a log file, nothing with --quiet
    bar = progress(not args.quiet, total=n_runs, desc=f"benchmark on {args.space}",
                   unit="search")

    def on_done(run) -> None:
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
        bar.close()
    paths = write(report, out_dir)
    reused = sum(r["reused"] for r in report["runs"])
    summary = markdown(report) + (f"\nwrote {', '.join(str(p) for p in paths.values())} "
                                  f"in {report['wall_s']:.1f} s"
                                  + (f" ({reused} searches reused from {cache_dir})"
                                     if reused else ""))
    return report, summary
