"""``nao benchmark``'s options (the benchmark: :mod:`pipelines.commands.benchmark`)."""

from __future__ import annotations

from search_spaces import DEFAULT_SPACE

from ...search.engine import DASK_INSTALL
from ..common import add_common, deferred, non_negative_int, positive_int
from .search import scheduler_address

# tpe (Optuna's TPE) is the library strategy NAO is measured against: in the default whenever
# the optional optuna is installed, left out with a note otherwise
DEFAULT_STRATEGIES = "nao,tpe,rl,evolution,random"
WITHOUT_OPTUNA = "nao,rl,evolution,random"
DEFAULT_BUDGET = 100
DEFAULT_SEEDS = 10
MAX_SEEDS = 1000  # pipelines.search.benchmark.MAX_SEEDS (which checks it), copied for the help


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
                   help=f"searches per strategy, at most {MAX_SEEDS} (default {DEFAULT_SEEDS})")
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
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", type=scheduler_address,
                   help="run the searches on a dask.distributed cluster instead (see "
                        f"docs/cluster.md; needs {DASK_INSTALL})")
    p.add_argument("--set", action="append", metavar="STRATEGY.KEY=VALUE", dest="settings",
                   help="strategy option, e.g. --set nao.top_k=20 --set rl.lr=0.01")
    add_common(p, seed=False)
    p.set_defaults(run=deferred("benchmark"))
