"""NAO as an Optuna sampler against Optuna's TPESampler and RandomSampler on a table space.

    python benchmarks/optuna_samplers.py                          # citeseer, 10 seeds, 100 trials
    python benchmarks/optuna_samplers.py --seeds 2 --trials 20    # a quick check, seconds
    python benchmarks/optuna_samplers.py --space nasbench-graph:cs --json /tmp/optuna-cs.json

An architecture of the table space (``--space``, default ``nasbench-graph:citeseer``) is written
as Optuna categorical parameters (``encoding``): for NAS-Bench-Graph one parameter for the link
pattern (its nine) and one per node for the op; for a space whose grammar allows the same tokens
at a position whatever came before (``synthetic:...``), one parameter per token position. The
objective is the table's validation accuracy (maximized); parameters that name no architecture
of the table (NAS-Bench-Graph's all-``skip`` network) fail the trial. Each sampler
(``NAOSampler(seed=s)``, ``TPESampler(seed=s)``, ``RandomSampler(seed=s)``) runs one study of
``--trials`` trials per seed 0..N-1, with one torch thread.

Every trial counts, as Optuna counts them: one that repeats an architecture the study has
already evaluated, or fails, uses up a trial all the same. Prints one Markdown table: per
sampler, the best validation accuracy found within the first 10, 20, 30, 50, 100 trials (mean ±
std over seeds), the test accuracy of the architecture with the best validation accuracy after
all trials (the first found on ties), the distinct architectures evaluated, and the mean wall
time of one study. ``--json PATH`` also writes every study's trials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
from joblib import Parallel, delayed

from nao.errors import InvalidArchitectureError, UnknownArchitectureError
from nao.threads import torch_threads
from pipelines.strategies.optuna_sampler import NAOSampler
from search_spaces import SearchSpace, Tabular, get_space

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "nao": lambda seed: NAOSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
LABELS = {"nao": "NAOSampler", "tpe": "TPESampler", "random": "RandomSampler"}
CHECKPOINTS = "10,20,30,50,100"
PROBES = 500  # sampled prefixes per position that must allow the same tokens

# the parameters of one trial as an architecture of the space; None: they name none
Suggest = Callable[[optuna.Trial], object | None]


def _nasbench_graph(space: SearchSpace) -> Suggest:
    """The benchmark's own description: one of its nine link patterns, and an op per node."""
    from search_spaces.nasbench_graph import LINK_PATTERNS, N_NODES

    patterns = [",".join(map(str, p)) for p in LINK_PATTERNS]
    ops = list(space.ops)

    def suggest(trial: optuna.Trial) -> object | None:
        links = trial.suggest_categorical("links", patterns)
        node_ops = [trial.suggest_categorical(f"op{i}", ops) for i in range(N_NODES)]
        try:
            return space.from_string(f"{links}:{','.join(node_ops)}")
        except InvalidArchitectureError:  # all skip: not a network, not in the table
            return None

    return suggest


def _per_position(space: SearchSpace) -> Suggest:
    """One categorical per token position, of the tokens the grammar allows there; only for a
    grammar whose allowed tokens at a position do not depend on the earlier ones (checked on
    ``PROBES`` sampled architectures)."""
    rng = np.random.default_rng(0)
    probes = [space.to_tokens(space.sample(rng)) for _ in range(PROBES)]
    allowed = []
    for pos in range(space.length):
        sets = {tuple(space.valid_tokens(tuple(t[:pos]))) for t in probes}
        if len(sets) > 1:
            sys.exit(f"{space.name}: the tokens allowed at position {pos} depend on the earlier "
                     "ones, so one parameter per position does not describe it; add an "
                     "encoding for it to ENCODINGS in this script")
        allowed.append(sets.pop())
    names = [[space.vocab[t] for t in tokens] for tokens in allowed]

    def suggest(trial: optuna.Trial) -> object | None:
        tokens = [space.vocab.index(trial.suggest_categorical(f"t{pos}", names[pos]))
                  for pos in range(space.length)]
        try:
            return space.from_tokens(tokens)
        except InvalidArchitectureError:
            return None

    return suggest


ENCODINGS: dict[str, Callable[[SearchSpace], Suggest]] = {"nasbench-graph": _nasbench_graph}


def encoding(space: SearchSpace) -> Suggest:
    """How a trial's parameters name an architecture of ``space``: the space family's own
    encoding where ``ENCODINGS`` has one, else one parameter per token position."""
    family = space.name.split(":", 1)[0]
    return ENCODINGS.get(family, _per_position)(space)


def run_study(space_name: str, sampler: str, seed: int, trials: int) -> dict:
    """One study; every trial's validation and test accuracy (NaN for a failed one) and the
    canonical key of its architecture (None for a failed one)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    space = get_space(space_name)
    space.benchmark  # noqa: B018 - read the table before the clock starts
    suggest = encoding(space)
    valid: list[float] = []
    test: list[float] = []
    keys: list = []

    def objective(trial: optuna.Trial) -> float:
        arch = suggest(trial)
        record = None
        if arch is not None:
            try:
                record = space.lookup(arch)
            except UnknownArchitectureError:
                record = None
        if record is None:
            valid.append(float("nan"))
            test.append(float("nan"))
            keys.append(None)
            return float("nan")  # Optuna marks the trial failed
        valid.append(record.valid)
        test.append(record.test)
        keys.append(repr(space.canonical(arch)))
        return record.valid

    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[sampler](seed))
    start = time.perf_counter()
    with torch_threads(1):
        study.optimize(objective, n_trials=trials)
    wall = time.perf_counter() - start
    return {"sampler": sampler, "seed": seed, "valid": valid, "test": test, "keys": keys,
            "wall_s": wall}


def pick_curves(run: dict) -> tuple[np.ndarray, np.ndarray]:
    """Best validation accuracy within the first k trials, and the test accuracy of that
    architecture (the first found on ties); failed trials count as trials but never lead."""
    valid = np.nan_to_num(np.asarray(run["valid"], dtype=float), nan=-np.inf)
    best = np.maximum.accumulate(valid)
    improved = np.r_[True, best[1:] > best[:-1]]
    pick = np.maximum.accumulate(np.where(improved, np.arange(len(valid)), 0))
    return best, np.asarray(run["test"], dtype=float)[pick]


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.4f} ± {std:.4f}"


def table(runs: list[dict], samplers: list[str], checkpoints: list[int], trials: int,
          space: SearchSpace) -> str:
    bench = space.benchmark
    head = [f"best valid @{checkpoints[0]}"] + [f"@{k}" for k in checkpoints[1:]] + [
        f"test of pick @{trials}", f"median valid rank @{trials}", "distinct archs",
        "failed trials", "wall s / study"]
    lines = ["| sampler | " + " | ".join(head) + " |",
             "| --- |" + " ---: |" * len(head)]
    for name in samplers:
        mine = [r for r in runs if r["sampler"] == name]
        curves = [pick_curves(r) for r in mine]
        cells = [mean_std([best[k - 1] for best, _ in curves]) for k in checkpoints]
        cells.append(mean_std([test[-1] for _, test in curves]))
        cells.append(f"{np.median([bench.valid_rank(best[-1]) for best, _ in curves]):g}")
        cells.append(f"{np.mean([len({k for k in r['keys'] if k is not None}) for r in mine]):.1f}")
        cells.append(f"{np.mean([sum(k is None for k in r['keys']) for r in mine]):.1f}")
        cells.append(f"{np.mean([r['wall_s'] for r in mine]):.1f}")
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="nasbench-graph:citeseer",
                   help="a table space (nasbench-graph:citeseer)")
    p.add_argument("--samplers", default=",".join(SAMPLERS), help=f"of {', '.join(SAMPLERS)}")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (10)")
    p.add_argument("--trials", type=int, default=100, help="trials per study (100)")
    p.add_argument("--checkpoints", default=CHECKPOINTS,
                   help=f"trial counts to report, up to --trials ({CHECKPOINTS})")
    p.add_argument("--jobs", type=int, default=1, help="studies run in parallel (1)")
    p.add_argument("--json", type=Path, help="also write every study's trials and the table")
    p.add_argument("--markdown", type=Path, help="also write the table to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    samplers = args.samplers.split(",")
    if unknown := [s for s in samplers if s not in SAMPLERS]:
        sys.exit(f"unknown sampler {unknown[0]}; choose from {', '.join(SAMPLERS)}")
    checkpoints = [k for k in map(int, args.checkpoints.split(",")) if k <= args.trials]
    if args.trials not in checkpoints:
        checkpoints.append(args.trials)
    space = get_space(args.space)
    if not isinstance(space, Tabular):
        sys.exit(f"{space.name} has no table; choose a table space (nasbench-graph:DATASET, "
                 "synthetic:...)")
    encoding(space)  # an unsupported space fails here, not in every study
    start = time.perf_counter()
    runs = Parallel(n_jobs=args.jobs)(
        delayed(run_study)(space.name, name, seed, args.trials)
        for name in samplers for seed in range(args.seeds))
    total = time.perf_counter() - start
    text = (f"{space.name}, {args.trials} trials per study, seeds 0-{args.seeds - 1}; mean ± std "
            f"over seeds; table best: validation {space.benchmark.optimum_valid:.4f}\n\n"
            + table(runs, samplers, checkpoints, args.trials, space)
            + f"\n\nwall {total:.0f} s")
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps({"space": space.name, "trials": args.trials,
                                         "seeds": args.seeds, "runs": runs, "table": text,
                                         "wall_s": total}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
