"""``nao search``: one search on one space with one strategy (its options:
:mod:`.parsers.search`). Importing this module imports no torch: a space with a table
is searched without it, and the space and strategy options are checked at once."""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import time

from nao.errors import ConfigError
from search_spaces import Tabular, get_space

from ..options import deep_merge
from ..progress import progress
from ..search.benchmark import benchmark_files
from ..search.engine import Engine, make_engine
from ..search.evaluators import Evaluator, TableEvaluator
from ..search.loop import SearchStalledError, result_from_store, run_search
from ..search.store import Store
from ..strategies import check_option_names, make_strategy
from ..strategies.nao_strategy import PRESETS
from ..training.run_dir import check_resume, lock_run_dir
from .common import StatusLine, parse_settings, warn

# the store's record of how long its searches ran, every run into it together (a run killed
# outright adds nothing)
SEARCHED_S = "searched_s"
CHILD_OPTIONS = ("data", "data_dir", "train_size", "epochs", "batch_size", "lr", "threads",
                 "device", "scheduler")


def make_evaluator(args: argparse.Namespace, space) -> Evaluator:
    """Table lookup for a tabular space (training options refused), else children trained
    from scratch on ``--data``."""
    given = [name for name in CHILD_OPTIONS if getattr(args, name, None) is not None]
    if isinstance(space, Tabular):
        if given or args.workers > 1:
            flag = "--" + (given[0] if given else "workers").replace("_", "-")
            raise ConfigError(f"{flag} applies to spaces whose children are trained (e.g. "
                              f"nas-rl); {space.name} is scored by table lookup, so drop it "
                              "(nao benchmark --workers runs whole searches in parallel)")
        return TableEvaluator(space)
    if args.scheduler is not None and args.workers > 1:
        raise ConfigError("--scheduler sends children to the cluster's workers; drop --workers "
                          "(start more dask workers instead)")
    from ..search.train_evaluator import ChildTraining, DataSpec, TrainEvaluator  # torch

    defaults = ChildTraining()
    training = ChildTraining(
        epochs=args.epochs or defaults.epochs, batch_size=args.batch_size or defaults.batch_size,
        lr=args.lr or defaults.lr, threads=args.threads or defaults.threads,
        device=args.device or defaults.device)
    data = DataSpec(args.data or "digits", args.data_dir, args.train_size, args.seed)
    return TrainEvaluator(space, data, training, seed=args.seed)


def trains_children(evaluator: Evaluator) -> bool:
    """Whether ``evaluator`` trains children (:func:`make_evaluator` made a TrainEvaluator).
    Its module imports torch: a search that made none has not loaded it, and need not."""
    module = sys.modules.get("pipelines.search.train_evaluator")
    return module is not None and isinstance(evaluator, module.TrainEvaluator)


def strategy_options(args: argparse.Namespace) -> dict:
    options: dict = {}
    if args.preset:
        if args.strategy != "nao":
            raise ConfigError(f"--preset applies to the nao strategy, not {args.strategy}")
        options = deep_merge(options, PRESETS[args.preset])
    options = deep_merge(options, parse_settings(args.settings))
    check_option_names(args.strategy, options)  # random_state=... too, before it is a keyword
    return options


def check_budget(space, budget: int) -> None:
    """A budget larger than a finite space can never be spent: refuse it before any work."""
    if not isinstance(space, Tabular):
        return
    size = space.size
    if budget > size:
        raise ConfigError(f"--budget {budget} is more than the {size:,} architectures of "
                          f"{space.name}; choose --budget {size} or less")


def run(args: argparse.Namespace):
    check_resume(args.resume, args.out or None)
    space = get_space(args.space)
    # the strategy and its options first: they need no table, which the evaluator and the
    # budget's check load
    options = strategy_options(args)
    strategy = make_strategy(args.strategy, space, random_state=args.seed, **options)
    evaluator = make_evaluator(args, space)
    check_budget(space, args.budget)
    config = {"space": space.name, "strategy": args.strategy, "seed": args.seed,
              "options": options, "settings": strategy.settings(), "budget": args.budget}
    if trains_children(evaluator):  # a resume must train children the same way
        config["children"] = evaluator.config()
    if args.out:
        Store.check_can_open(args.out, args.resume)  # before the directory is created
        check_not_a_benchmark(args.out, args.resume)
    # a cluster that cannot be reached is refused before a run directory is made
    with make_engine(evaluator, args.workers, args.scheduler) as engine:
        if not args.out:
            result = search_with_progress(args, space, strategy, None, evaluator, engine)
            return report(with_children(result.to_dict(), evaluator), space)
        return search_into(args, space, strategy, config, evaluator, engine)


def check_not_a_benchmark(out_dir: str, resume: bool) -> None:
    """A fresh search makes no store among a benchmark's files: refused, nothing touched."""
    found = None if resume else benchmark_files(out_dir)
    if found is not None:
        raise ConfigError(f"--out {out_dir} holds a benchmark ({found}); a search keeps its "
                          "store in a directory of its own, so choose another --out")


def search_into(args: argparse.Namespace, space, strategy, config: dict, evaluator: Evaluator,
                engine: Engine):
    """The search with ``--out``: every evaluation stored there at once; ``--resume`` goes on
    from what is stored (or reads a finished search back)."""
    with lock_run_dir(args.out, "search"):
        check_not_a_benchmark(args.out, args.resume)  # a benchmark may have begun meanwhile
        store = Store.open_run(args.out, config, args.resume)
        try:
            stored = len(store)
            read_back = args.resume and stored >= args.budget
            if args.resume and not read_back:
                warn_on_changed_settings(args, store.get_meta("config").get("settings"),
                                         config["settings"])
            if read_back:
                result = result_from_store(space, store, args.budget,
                                           strategy_name=args.strategy, seed=args.seed)
            else:
                result = timed_search(args, space, strategy, store, evaluator, engine)
            searched_s = store.get_meta(SEARCHED_S)
        finally:
            store.close()
    out = with_children(result.to_dict(), evaluator)
    if read_back:  # nothing ran now: say so, with how long the stored search ran when known
        out["read_back"] = True
        if searched_s is not None:
            out["wall_s"] = round(searched_s, 3)
        out["searched_s"] = None if searched_s is None else round(searched_s, 3)
    if stored > args.budget:
        note = (f"{args.out} holds {stored} evaluations; this reports the first {args.budget} "
                f"(--budget {args.budget}); pass --budget {stored} to report them all")
        out["note"] = note
        out["stored_queries"] = stored
        sys.stderr.write(f"nao search: note: {note}\n")
    return report(out, space)


def warn_on_changed_settings(args: argparse.Namespace, saved: dict | None,
                             settings: dict) -> None:
    """A resumed search whose strategy now runs with other settings than when it began (an
    upgrade changed a default the options left open) goes on, with one warning naming what
    changed and the ``--set`` that continues it as it began. Refusing would strand the stored
    evaluations; saying nothing would mix two configurations unnoticed. A store from before
    settings were recorded has none to compare."""
    if saved is None:
        return
    # an option added or removed since has no value on one side to name or to set
    changed = [(key, before, now) for key, before, now in setting_changes(saved, settings)
               if before is not MISSING and now is not MISSING]
    if not changed:
        return
    shown_changes = ", ".join(f"{key} {json.dumps(before)} -> {json.dumps(now)}"
                              for key, before, now in changed)
    restore = " ".join(f"--set {key}={json.dumps(before, separators=(',', ':'))}"
                       for key, before, _ in changed)
    warn("search", f"--resume: the {args.strategy} strategy's settings differ from when "
                   f"{args.out} began ({shown_changes}), so the rest of the search runs with "
                   f"the new ones; to continue it as it began, add {restore}")


MISSING = object()  # a setting one side does not have


def setting_changes(before: dict, now: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """``(dotted key, before, now)`` for each leaf setting that differs, nested groups (NAO's
    ``nao_params``) walked into, in key order."""
    out = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key, MISSING), now.get(key, MISSING)
        if isinstance(a, dict) and isinstance(b, dict):
            out += setting_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out


def timed_search(args: argparse.Namespace, space, strategy, store: Store, evaluator: Evaluator,
                 engine: Engine):
    """The search into ``store``, its wall time added to the store's :data:`SEARCHED_S` (also
    when it stops early), so that reading a finished search back can say how long it ran."""
    start = time.perf_counter()
    try:
        result = search_with_progress(args, space, strategy, store, evaluator, engine)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # the stop's own message matters more
            add_searched_time(store, time.perf_counter() - start)
        raise
    add_searched_time(store, time.perf_counter() - start)
    return result


def add_searched_time(store: Store, seconds: float) -> None:
    store.set_meta(SEARCHED_S, (store.get_meta(SEARCHED_S) or 0.0) + seconds)


def with_children(out: dict, evaluator: Evaluator) -> dict:
    """The result, with how children were trained when they were."""
    if trains_children(evaluator):
        out["children"] = evaluator.config()
    return out


def search_with_progress(args: argparse.Namespace, space, strategy, store: Store | None,
                         evaluator: Evaluator, engine: Engine):
    """Run the loop with a progress bar on stderr; an interrupt or a stall says truly what was
    kept. The strategy's warnings come first: every check has passed by now, so a refusal is
    still its one line alone."""
    for text in strategy.warnings(args.budget):
        warn("search", text)
    bar = None
    if not args.quiet:  # plain progress (not a terminal): about ten lines
        bar = progress(True, total=args.budget, desc=f"{args.strategy} on {space.name}",
                       unit="arch", every=max(1, args.budget // 10))
    best = [-float("inf")]
    line = StatusLine(bar) if bar is not None else None
    strategy.status = line.status if line is not None else None

    def on_query(entry) -> None:
        if bar is not None:
            best[0] = max(best[0], entry.valid)
            line.step(f"best_valid={best[0]:.4f}")

    try:
        return run_search(space, strategy, evaluator, args.budget,
                          strategy_name=args.strategy, seed=args.seed, store=store,
                          on_query=on_query, engine=engine)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted; {kept(args, store)}") from None
    except SearchStalledError as exc:
        raise SearchStalledError(f"{exc}; {kept(args, store, exc.queries)}", exc.queries) from None
    finally:
        if bar is not None:
            bar.close()


def kept(args: argparse.Namespace, store: Store | None, stalled_at: int | None = None) -> str:
    """What survives a search that stopped early, said truly; after a stall, how to report it."""
    if store is None:
        return ("nothing was saved (without --out the evaluations live only in memory); "
                "run with --out DIR to keep them and continue with --resume")
    where = f"the {len(store)} evaluations so far are in {store.path}"
    if stalled_at is not None:
        return f"{where}; --out {args.out} --resume --budget {stalled_at} reports them"
    return f"{where}; continue with --out {args.out} --resume"


def report(out: dict, space) -> tuple[dict, str]:
    """The JSON result and its human summary."""
    b = out["best"]
    if out.get("read_back"):  # a finished search read from its store: nothing ran now
        took = "" if out["searched_s"] is None else f" in {out['searched_s']:.1f} s"
        queries = (f"{out['queries']} distinct architectures, read back from the store (the "
                   f"search had finished{took}; nothing ran now)")
    else:
        queries = f"{out['queries']} distinct architectures in {out['wall_s']:.1f} s"
    lines = [
        f"space     {out['space']}   strategy {out['strategy']}   seed {out['seed']}",
        f"queries   {queries}",
        f"best      {b['arch']}   (found at query {b['query']})",
        f"valid     {b['valid']:.4f}" + (f"   rank {b['valid_rank']} of {len(space.benchmark)}"
                                         f"   (table best {out['optimum_valid']:.4f})"
                                         if "valid_rank" in b else ""),
    ]
    if b.get("test") is not None:
        lines.append(f"test      {b['test']:.4f}" + (
            f"   rank {b['test_rank']} of {len(space.benchmark)}"
            f"   (table best {out['optimum_test']:.4f})" if "test_rank" in b else ""))
    return out, "\n".join(lines)
