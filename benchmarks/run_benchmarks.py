"""Regenerate the benchmark tables of docs/results.md from scratch.

    python benchmarks/run_benchmarks.py                      # the full set: hours of CPU
    python benchmarks/run_benchmarks.py --datasets cora --budgets 30 --seeds 2 \\
        --strategies random,evolution,rl                     # a quick check, seconds

For each NAS-Bench-Graph dataset it runs ``nao benchmark`` once at the largest budget and reads
the smaller budgets off the same searches: a strategy never sees its budget, so the first 50
queries of a 200-query search are the 50-query search (pinned by
tests/pipelines/search/test_benchmark.py). Each dataset's benchmark.md/.json/.png go to OUT/<dataset>/,
the combined tables to OUT/NAME.md (``--name``, default tables), and with ``--doc`` into that
file between the markers ``<!-- benchmark-NAME:start -->`` and ``<!-- benchmark-NAME:end -->``.
A last table sets ``nao`` (when run) against the best other strategy at each budget.

Every finished search is kept in OUT/<dataset>/runs/ (committed for the default OUT) and read back
by the next run with the same options, so the committed tables regenerate in seconds and more
seeds or strategies cost only the new searches.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipelines.commands.common import parse_settings
from pipelines.search.benchmark import (
    RUNS_DIR,
    metric_cells,
    parse_strategies,
    run_benchmark,
    split_options,
    write,
)

DATASETS = "cora,citeseer,pubmed"
BUDGETS = "50,100,200"
SEEDS = 20
STRATEGIES = "nao,tpe,rl,evolution,random"
OUT = Path(__file__).resolve().parent / "results"
NAME = "tables"


def markers(name: str) -> tuple[str, str]:
    """The lines between which ``--doc`` puts the tables of ``--name``."""
    return f"<!-- benchmark-{name}:start -->", f"<!-- benchmark-{name}:end -->"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default=DATASETS, help=f"NAS-Bench-Graph datasets ({DATASETS})")
    p.add_argument("--budgets", default=BUDGETS, help=f"query counts to report ({BUDGETS})")
    p.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds per strategy ({SEEDS})")
    p.add_argument("--strategies", default=STRATEGIES,
                   help=f"strategies, LABEL=NAME for a variant ({STRATEGIES})")
    p.add_argument("--jobs", type=int, default=-1, help="parallel searches (all cores)")
    p.add_argument("--out", type=Path, default=OUT, help="output directory (benchmarks/results)")
    p.add_argument("--doc", type=Path, help="also put the tables into this Markdown file")
    p.add_argument("--name", default=NAME,
                   help=f"OUT/NAME.md and the markers in --doc ({NAME}); letters, digits, -")
    p.add_argument("--set", action="append", dest="settings", metavar="STRATEGY.KEY=VALUE",
                   help="strategy option, as for nao benchmark")
    return p.parse_args(argv)


def table(report: dict, budgets: list[int]) -> str:
    """One dataset: a row per (strategy, budget)."""
    seeds = report["seeds"]
    lines = [f"### {report['space']}", "",
             f"{len(seeds)} seeds; table best: validation {report['optimum_valid']:.4f}, "
             f"test {report['optimum_test']:.4f} ({report['table_size']:,} architectures).", "",
             "| strategy | queries | best valid (mean ± std) | median valid rank "
             "| test of pick (mean ± std) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, res in report["results"].items():
        for q in budgets:
            p = res["curve"][q - 1]
            lines.append(f"| {name} | {q} | {metric_cells(p)} |")
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    """The output directory as the reader of the docs would type it (relative to the repo)."""
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return str(path)


def standing(reports: list[dict], budgets: list[int], mine: str = "nao") -> str:
    """``mine`` against the best other strategy by mean best validation at each budget."""
    lines = [f"### {mine} against the best other strategy", "",
             f"| dataset | queries | {mine} mean valid | best other (mean valid) | difference "
             f"| {mine} / other median rank |", "| --- | ---: | ---: | --- | ---: | ---: |"]
    for report in reports:
        results = report["results"]
        if mine not in results or len(results) < 2:
            continue
        for q in budgets:
            point = {name: res["curve"][q - 1] for name, res in results.items()}
            other = max((n for n in point if n != mine), key=lambda n: point[n]["mean_valid"])
            a, b = point[mine], point[other]
            lines.append(f"| {report['space'].split(':')[-1]} | {q} | {a['mean_valid']:.4f} | "
                         f"{other} ({b['mean_valid']:.4f}) | "
                         f"{a['mean_valid'] - b['mean_valid']:+.4f} | "
                         f"{a['median_valid_rank']:g} / {b['median_valid_rank']:g} |")
    return "\n".join(lines) + "\n" if len(lines) > 4 else ""


def put_into_doc(doc: Path, tables: str, name: str = NAME) -> None:
    START, END = markers(name)
    text = doc.read_text() if doc.exists() else f"# Results\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        sys.exit(f"{doc}: add the lines {START} and {END} where the tables go")
    head, rest = text.split(START, 1)
    doc.write_text(f"{head}{START}\n{tables}{END}{rest.split(END, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.name or not all(c.isalnum() or c == "-" for c in args.name):
        sys.exit(f"--name {args.name!r}: use letters, digits and -")
    strategies = parse_strategies(args.strategies)
    options = split_options(parse_settings(args.settings), strategies)
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    start = time.perf_counter()
    sections, reports = [], []
    search_s, reused, total = 0.0, 0, 0
    for dataset in args.datasets.split(","):
        print(f"{dataset}: {len(strategies)} strategies x {args.seeds} seeds, budget "
              f"{budgets[-1]}", file=sys.stderr, flush=True)
        report = run_benchmark(f"nasbench-graph:{dataset}", strategies, budgets[-1], args.seeds,
                               options=options, n_jobs=args.jobs, checkpoints=budgets,
                               cache_dir=args.out / dataset / RUNS_DIR)
        write(report, args.out / dataset)
        sections.append(table(report, budgets))
        reports.append(report)
        search_s += sum(r["wall_s"] for r in report["runs"])
        reused += sum(r["reused"] for r in report["runs"])
        total += len(report["runs"])
    tables = (f"Generated by `python benchmarks/run_benchmarks.py --datasets {args.datasets} "
              f"--budgets {args.budgets} --seeds {args.seeds} --strategies {args.strategies}"
              + "".join(f" --set {s}" for s in args.settings or [])
              + (f" --name {args.name}" if args.name != NAME else "") + "` "
              f"in {time.perf_counter() - start:.0f} s ({total} searches taking {search_s:,.0f} s "
              "summed"
              + (f"; {reused} of them finished earlier and read back from "
                 f"{_shown(args.out)}/<dataset>/{RUNS_DIR}/" if reused else "")
              + "). The pick is the best architecture by "
              "validation accuracy so far; ranks are among all architectures of the table "
              "(1 = best).\n\n" + "\n".join(sections))
    summary = standing(reports, budgets)
    if summary:
        tables += "\n" + summary
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(tables)
    if args.doc:
        put_into_doc(args.doc, tables, args.name)
    print(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
