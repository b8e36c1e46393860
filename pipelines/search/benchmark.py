"""Many searches side by side on a tabular space: every (strategy, seed) pair, summarized.

Each search sees validation accuracy only. At every query count the summary takes, per run, the
best validation accuracy so far and that architecture (the *pick*, the first one found on ties),
then over seeds the mean and standard deviation of the best validation accuracy, the median
validation rank of the pick in the whole table (1 = best) and the mean test accuracy of the pick:
what a user with a held-out test set would get by stopping there.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np

from nao.errors import ConfigError
from nao.validation import shown, shown_key
from search_spaces import get_space
from search_spaces.base import SearchSpace

from ..strategies import STRATEGIES, check_option_names, make_strategy
from .engine import dask_unordered, exit_with_parent
from .evaluators import TableEvaluator
from .loop import pick_record, run_search

CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)  # query counts the table shows, as shares of the budget
CONFIDENCE = 0.95  # the plot's band: this confidence interval of the mean over seeds
PLOT_SKIP_FRACTION = 0.1  # the y-axis frames the mean curves from this share of the budget on
PLOT_PAD, PLOT_MIN_PAD = 0.3, 0.002
MARKDOWN_NAME, JSON_NAME, PLOT_NAME = "benchmark.md", "benchmark.json", "benchmark.png"
RUNS_DIR = "runs"  # under a benchmark's output directory: one JSON file per finished search
CACHE_FIELDS = {"space", "strategy", "options", "archs", "valid", "test", "best", "wall_s"}
LABEL = re.compile(r"[A-Za-z0-9_-]+")  # a label names files in runs/, so it stays a plain name
# a local worker given no search for this long exits (joblib's default is five minutes): the
# searches keep every worker busy until the last few
IDLE_WORKER_TIMEOUT_S = 5
# seeds per benchmark: each is a whole search per strategy and a file in runs/, and past a few
# hundred the confidence band of the mean barely narrows
MAX_SEEDS = 1000


@dataclass(frozen=True)
class Run:
    """One search's per-query validation and test accuracy (what the summary needs)."""

    strategy: str
    seed: int
    valid: tuple[float, ...]
    test: tuple[float, ...]
    best: dict
    wall_s: float
    reused: bool = False  # read back from a benchmark's run cache, not searched again


def parse_strategies(text: str) -> list[str]:
    """``"nao,rl,nao-ens=nao"`` -> labels; unknown, empty or repeated labels are a
    :class:`ConfigError`. ``label=strategy`` runs ``strategy`` under another name, so one
    benchmark can compare variants (``--set nao-ens.n_models=3``)."""
    entries = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not e for e in entries):
        raise ConfigError(f"--strategies {shown(text)}: give comma-separated names, e.g. "
                          "nao,rl,random")
    labels = [label_of(e) for e in entries]
    unknown = [base_strategy(e) for e in entries if base_strategy(e) not in STRATEGIES]
    if unknown:
        raise ConfigError(f"--strategies: unknown strategy {', '.join(map(shown, unknown))}; "
                          f"choose from {', '.join(sorted(STRATEGIES))} (or LABEL=STRATEGY)")
    bad = [lab for lab in labels if not LABEL.fullmatch(lab)]
    if bad:
        raise ConfigError(f"--strategies: label {shown(bad[0])} must be a non-empty name of "
                          "letters, digits, '-' and '_', without '.', '/' or spaces, e.g. "
                          "nao-ens=nao")
    repeated = sorted({n for n in labels if labels.count(n) > 1})
    if repeated:
        raise ConfigError(f"--strategies: {', '.join(repeated)} given more than once")
    return entries


def label_of(entry: str) -> str:
    """The name a ``--strategies`` entry is reported under (``nao-ens`` for ``nao-ens=nao``)."""
    return entry.split("=", 1)[0].strip()


def base_strategy(entry: str) -> str:
    """The registered strategy an entry runs (``nao`` for ``nao-ens=nao``)."""
    return entry.split("=", 1)[-1].strip()


def split_options(settings: dict, strategies: Sequence[str]) -> dict[str, dict]:
    """``{"nao": {"top_k": 20}}`` from ``--set nao.top_k=20``, checked against the strategies."""
    labels = [label_of(e) for e in strategies]
    options: dict[str, dict] = {name: {} for name in labels}
    for name, value in settings.items():
        if not isinstance(value, dict):
            raise ConfigError(f"--set {shown_key(name)}={shown(value)}: prefix each option with "
                              f"its strategy, e.g. --set {labels[0]}.{shown_key(name)}=...")
        if name not in options:
            raise ConfigError(f"--set {shown_key(name)}.*: {shown(name)} is not among "
                              f"--strategies ({', '.join(labels)})")
        options[name] = value
    return options


def checkpoints_for(budget: int, fractions: Sequence[float] = CHECKPOINT_FRACTIONS) -> list[int]:
    return sorted({max(1, min(budget, math.ceil(f * budget))) for f in fractions} | {budget})


@cache
def _space(name: str) -> SearchSpace:
    """One space (and table) per worker process, loaded on its first job."""
    return get_space(name)


def search_one(space_name: str, strategy: str, seed: int, budget: int,
               options: dict) -> tuple[Run, list[str]]:
    """One search with the table evaluator (runs in a worker process) and the architectures it
    evaluated; ``strategy`` may be ``label=name``."""
    space = _space(space_name)
    label, name = label_of(strategy), base_strategy(strategy)
    result = run_search(space, make_strategy(name, space, random_state=seed, **options),
                        TableEvaluator(space), budget, strategy_name=name, seed=seed)
    run = Run(label, seed, tuple(h.valid for h in result.history),
              tuple(np.nan if h.test is None else h.test for h in result.history),
              result.best, result.wall_s)
    return run, [h.arch for h in result.history]


def run_one(space_name: str, strategy: str, seed: int, budget: int, options: dict,
            cache_dir: str | Path | None = None) -> Run:
    """:func:`search_one`; with ``cache_dir`` the finished run is saved there at once, so an
    interrupted benchmark keeps every search it completed."""
    run, archs = search_one(space_name, strategy, seed, budget, options)
    if cache_dir is not None:
        _save_run(run, Path(cache_dir), space_name, base_strategy(strategy), options, archs)
    return run


def run_settings(space_name: str, name: str, options: dict) -> dict:
    """The settings (:meth:`Strategy.settings`) of strategy ``name`` built with ``options`` on
    ``space_name``: what a saved search must have been run with to be reused."""
    return json.loads(_settings(space_name, name, json.dumps(options, sort_keys=True)))


@cache
def _settings(space_name: str, name: str, options: str) -> str:
    strategy = make_strategy(name, _space(space_name), random_state=0, **json.loads(options))
    return json.dumps(strategy.settings())


def _cache_path(cache_dir: Path, label: str, seed: int) -> Path:
    return cache_dir / f"{label}-seed{seed}.json"


def _save_run(run: Run, cache_dir: Path, space_name: str, name: str, options: dict,
              archs: list[str]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    record = {"space": space_name, "strategy": name, "options": options,
              "settings": run_settings(space_name, name, options), "label": run.strategy,
              "seed": run.seed, "archs": archs, "valid": run.valid,
              "test": [None if math.isnan(t) else t for t in run.test], "best": run.best,
              "wall_s": run.wall_s}
    path = _cache_path(cache_dir, run.strategy, run.seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)  # atomic: a kill leaves the old file or the new one, never half


def benchmark_files(out_dir: str | Path) -> Path | None:
    """A file showing that ``out_dir`` is a benchmark's (its report or a finished search in
    its ``runs/``), or None."""
    out = Path(out_dir)
    if (out / JSON_NAME).is_file():
        return out / JSON_NAME
    runs = out / RUNS_DIR
    return next(runs.glob("*-seed*.json"), None) if runs.is_dir() else None


def load_cached_run(cache_dir: Path, space_name: str, strategy: str, seed: int, budget: int,
                    options: dict) -> Run | None:
    """A saved run of the same space, strategy, options, settings and seed with at least
    ``budget`` queries, cut to ``budget`` (a strategy never sees its budget, so the first N
    queries of a longer search are the N-query search); None when there is none. A run saved
    before the strategy's defaults changed, or before runs recorded their settings, has other
    settings or none: it is searched again."""
    path = _cache_path(cache_dir, label_of(strategy), seed)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _well_formed(record):  # valid JSON but not what _save_run writes: search again
        return None
    same = (record["space"] == space_name and record["strategy"] == base_strategy(strategy)
            and record["options"] == json.loads(json.dumps(options))
            and len(record["valid"]) >= budget
            and record.get("settings") == run_settings(space_name, base_strategy(strategy),
                                                       options))
    if not same:
        return None
    valid = tuple(record["valid"][:budget])
    test = tuple(np.nan if t is None else t for t in record["test"][:budget])
    best = record["best"]
    if len(record["valid"]) > budget:  # the pick of the shorter search, as run_search makes it
        i = int(np.argmax(valid))
        best = pick_record(record["archs"][i], valid[i], record["test"][i], i + 1,
                           _space(space_name).benchmark)
    wall_s = record["wall_s"] * budget / len(record["valid"])  # an estimate when cut
    return Run(label_of(strategy), seed, valid, test, best, wall_s, reused=True)


def _well_formed(record: object) -> bool:
    """Whether a cached run has every field :func:`_save_run` writes, of the right type and
    length; anything else (a damaged or hand-edited file) is treated as no cache."""
    if not isinstance(record, dict) or not CACHE_FIELDS <= set(record):
        return False
    valid, test, archs = record["valid"], record["test"], record["archs"]
    if not all(isinstance(x, list) for x in (valid, test, archs)):
        return False
    if not len(valid) == len(test) == len(archs) or not valid:
        return False

    def number(x: object) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)

    return (all(number(v) for v in valid) and all(t is None or number(t) for t in test)
            and all(isinstance(a, str) for a in archs) and isinstance(record["best"], dict)
            and number(record["wall_s"]) and isinstance(record["options"], dict))


def run_all(space_name: str, strategies: Sequence[str], budget: int, seeds: Sequence[int],
            options: dict[str, dict], n_jobs: int = -1,
            on_done: Callable[[Run], None] | None = None,
            cache_dir: str | Path | None = None, reuse: bool = True,
            scheduler: str | None = None) -> list[Run]:
    """Every (strategy, seed) search through joblib, or on the dask cluster at ``scheduler``;
    returned in (strategy, seed) order. Runs already saved in ``cache_dir`` (same space,
    strategy, options, settings, seed, enough queries) are read back instead of searched again
    unless ``reuse`` is false; finished searches are saved there either way (by this process when a
    cluster ran them, since its workers may see other disks)."""
    from joblib import Parallel, delayed

    jobs = [(s, k) for s in strategies for k in seeds]
    runs, todo = [], []
    for s, k in jobs:
        opts = options.get(label_of(s), {})
        cached = None if cache_dir is None or not reuse else load_cached_run(
            Path(cache_dir), space_name, s, k, budget, opts)
        if cached is None:
            todo.append((s, k, opts))
        else:
            runs.append(cached)
            if on_done is not None:
                on_done(cached)
    if scheduler is not None:
        calls = [partial(search_one, space_name, s, k, budget, opts) for s, k, opts in todo]
        finished = (_saved(run, archs, cache_dir, space_name, strategies, options)
                    for run, archs in dask_unordered(calls, scheduler))
    else:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered",
                            idle_worker_timeout=IDLE_WORKER_TIMEOUT_S,
                            initializer=exit_with_parent, initargs=(os.getpid(),))
        finished = parallel(delayed(run_one)(space_name, s, k, budget, opts, cache_dir)
                            for s, k, opts in todo)
    for run in finished:
        runs.append(run)
        if on_done is not None:
            on_done(run)
    order = {(label_of(s), k): i for i, (s, k) in enumerate(jobs)}
    return sorted(runs, key=lambda r: order[(r.strategy, r.seed)])


def _saved(run: Run, archs: list[str], cache_dir: str | Path | None, space_name: str,
           strategies: Sequence[str], options: dict[str, dict]) -> Run:
    """``run``, saved in ``cache_dir`` first (when there is one)."""
    if cache_dir is not None:
        strategy = next(s for s in strategies if label_of(s) == run.strategy)
        _save_run(run, Path(cache_dir), space_name, base_strategy(strategy),
                  options.get(run.strategy, {}), archs)
    return run


def _pick_curves(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Best validation accuracy so far and the test accuracy of that (first-found) pick."""
    valid = np.asarray(run.valid)
    best = np.maximum.accumulate(valid)
    improved = np.r_[True, valid[1:] > best[:-1]]
    pick = np.maximum.accumulate(np.where(improved, np.arange(len(valid)), 0))
    return best, np.asarray(run.test)[pick]


def _std(x: np.ndarray) -> np.ndarray:
    """Sample standard deviation over seeds (0 with a single seed)."""
    return x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1:])


def summarize(runs: Sequence[Run], space: SearchSpace, budget: int) -> dict:
    """``results{strategy: {mean_valid, ..., curve[...]}}``: values at the budget at top level,
    ``curve`` holding the same at every query count 1..budget."""
    benchmark = space.benchmark
    results: dict[str, dict] = {}
    for strategy in dict.fromkeys(r.strategy for r in runs):
        mine = [r for r in runs if r.strategy == strategy]
        curves = [_pick_curves(r) for r in mine]
        best = np.stack([c[0][:budget] for c in curves])
        test = np.stack([c[1][:budget] for c in curves])
        ranks = np.vectorize(benchmark.valid_rank)(best)
        mean_valid, std_valid = best.mean(0), _std(best)
        median_rank, mean_test, std_test = np.median(ranks, 0), test.mean(0), _std(test)
        curve = [{"query": q + 1, "mean_valid": float(mean_valid[q]),
                  "std_valid": float(std_valid[q]), "median_valid_rank": float(median_rank[q]),
                  "mean_test": float(mean_test[q]), "std_test": float(std_test[q])}
                 for q in range(budget)]
        results[strategy] = {**{k: v for k, v in curve[-1].items() if k != "query"},
                             "mean_wall_s": float(np.mean([r.wall_s for r in mine])),
                             "curve": curve}
    return results


def check_setup(space_name: str, strategies: Sequence[str],
                options: dict[str, dict] | None = None, seed0: int = 0
                ) -> tuple[SearchSpace, dict[str, dict]]:
    """The space (with a table) and every strategy built once with its options, so a bad name
    or option is a :class:`ConfigError` before any search starts (not in a worker, after
    others finished). Returns the space and the options keyed by every label."""
    space = get_space(space_name)
    TableEvaluator(space)  # a space without a table is a ConfigError
    labels = [label_of(s) for s in strategies]
    options = {lab: dict((options or {}).get(lab, {})) for lab in labels}
    for s, lab in zip(strategies, labels, strict=True):
        check_option_names(base_strategy(s), options[lab])  # random_state=... too
        make_strategy(base_strategy(s), space, random_state=seed0, **options[lab])
    return space, options


def check_seeds(n_seeds: int) -> None:
    """At most :data:`MAX_SEEDS` seeds (and at least one): a ConfigError saying why, before any
    work."""
    if not 1 <= n_seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds {n_seeds}: choose 1 to {MAX_SEEDS}; each seed is a whole "
                          "search per strategy, saved as a file in runs/, and past a few hundred "
                          "seeds the confidence band of the mean barely narrows")


def run_benchmark(space_name: str, strategies: Sequence[str], budget: int, n_seeds: int,
                  seed0: int = 0, options: dict[str, dict] | None = None, n_jobs: int = -1,
                  on_done: Callable[[Run], None] | None = None,
                  checkpoints: Sequence[int] | None = None,
                  cache_dir: str | Path | None = None, reuse: bool = True,
                  scheduler: str | None = None) -> dict:
    """Run and summarize; the returned dict is what ``--json`` prints. ``strategies`` are
    names or ``label=name`` entries (:func:`parse_strategies`); ``options`` are keyed by label.
    With ``cache_dir`` every finished search is kept there and reused by the next call
    (``reuse=False``: searched again, and the new result replaces the saved one)."""
    check_seeds(n_seeds)
    space, options = check_setup(space_name, strategies, options, seed0)
    labels = [label_of(s) for s in strategies]
    checkpoints = sorted(set(checkpoints or checkpoints_for(budget)))
    if checkpoints[0] < 1 or checkpoints[-1] > budget:
        raise ConfigError(f"checkpoints must lie between 1 and the budget ({budget})")
    seeds = list(range(seed0, seed0 + n_seeds))
    start = time.perf_counter()
    runs = run_all(space.name, strategies, budget, seeds, options, n_jobs, on_done, cache_dir,
                   reuse, scheduler)
    return {
        "space": space.name, "strategies": labels,
        "variants": {label_of(s): base_strategy(s) for s in strategies if "=" in s},
        "budget": budget, "seeds": seeds,
        "options": options, "checkpoints": checkpoints, "table_size": len(space.benchmark),
        "optimum_valid": space.benchmark.optimum_valid,
        "optimum_test": space.benchmark.optimum_test,
        "results": summarize(runs, space, budget),
        "runs": [{"strategy": r.strategy, "seed": r.seed, "best": r.best,
                  "wall_s": round(r.wall_s, 3), "reused": r.reused} for r in runs],
        "wall_s": round(time.perf_counter() - start, 3),
    }


def markdown(report: dict) -> str:
    """The table at each checkpoint, grouped by query count."""
    seeds = report["seeds"]
    lines = [
        f"# Benchmark on {report['space']}",
        "",
        f"Budget {report['budget']} distinct architectures, {len(seeds)} seeds "
        f"({seeds[0]}..{seeds[-1]}), table of {report['table_size']:,} architectures "
        f"(best validation {report['optimum_valid']:.4f}, best test "
        f"{report['optimum_test']:.4f}). Per strategy over seeds: best validation accuracy "
        "found so far (mean ± std), median validation rank of that pick in the table "
        "(1 = best), and the pick's test accuracy (mean ± std).",
        "",
        "| queries | strategy | best valid | median valid rank | test of pick |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for q in report["checkpoints"]:
        for name, res in report["results"].items():
            p = res["curve"][q - 1]
            lines.append(f"| {q} | {name} | {metric_cells(p)} |")
    return "\n".join(lines) + "\n"


def metric_cells(point: dict) -> str:
    """The Markdown cells of one curve point: best valid, median valid rank, test of pick."""
    return (f"{point['mean_valid']:.4f} ± {point['std_valid']:.4f} | "
            f"{point['median_valid_rank']:g} | {point['mean_test']:.4f} ± {point['std_test']:.4f}")


def plot(report: dict, path: Path) -> None:
    """Two panels against queries: best validation accuracy so far (mean with the confidence
    band of the mean over seeds) and the pick's mean test accuracy (same band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import t as student_t

    n = len(report["seeds"])
    half_width = student_t.ppf(0.5 + CONFIDENCE / 2, n - 1) / math.sqrt(n) if n > 1 else 0.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    panels = (("mean_valid", "std_valid", "best validation accuracy so far", "optimum_valid"),
              ("mean_test", "std_test", "test accuracy of the pick", "optimum_test"))
    for ax, (mean_key, std_key, title, optimum) in zip(axes, panels, strict=True):
        for name, res in report["results"].items():
            q = np.array([p["query"] for p in res["curve"]])
            mean = np.array([p[mean_key] for p in res["curve"]])
            band = half_width * np.array([p[std_key] for p in res["curve"]])
            (line,) = ax.plot(q, mean, label=name)
            ax.fill_between(q, mean - band, mean + band, color=line.get_color(), alpha=0.2)
        ax.axhline(report[optimum], color="grey", ls="--", lw=1, label="table best")
        ax.set_ylim(*_y_limits(report, mean_key, optimum))
        ax.set(xlabel="queries (distinct architectures evaluated)", ylabel="accuracy",
               title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"{report['space']}: mean over {n} seeds, band = {CONFIDENCE:.0%} confidence "
                 "interval of the mean (Student t)", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _y_limits(report: dict, mean_key: str, optimum: str) -> tuple[float, float]:
    """Frame the means after the first few queries and the table's best; bands may be cut,
    since with few seeds a t-interval is wider than the whole accuracy range."""
    skip = max(1, math.ceil(PLOT_SKIP_FRACTION * report["budget"]))
    means = [p[mean_key] for res in report["results"].values() for p in res["curve"][skip - 1:]]
    lo, hi = min(means), max(max(means), report[optimum])
    pad = PLOT_PAD * (hi - lo) + PLOT_MIN_PAD
    return lo - pad, hi + pad


def write(report: dict, out_dir: str | Path) -> dict[str, Path]:
    """``benchmark.md``, ``benchmark.json`` and ``benchmark.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / MARKDOWN_NAME, "json": out / JSON_NAME, "plot": out / PLOT_NAME}
    paths["markdown"].write_text(markdown(report))
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    plot(report, paths["plot"])
    return paths
