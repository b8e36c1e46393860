"""How long ``nao`` takes to answer when it does no work: ``--version``, every command's
``--help`` and one-line refusals of bad input that need no data.

    python benchmarks/cli_startup.py                  # best of 5, a table on stdout
    python benchmarks/cli_startup.py --markdown -n 10
    python benchmarks/cli_startup.py --root ../other-checkout   # the same cases on another tree

Each case runs ``python -m pipelines.cli ...`` in a fresh process (from ``--root``, default this
checkout) and records the best wall time of ``-n`` runs and the best CPU time (user + system of
the child), which a busy machine inflates much less than the wall time. Compiled bytecode is
kept in a scratch directory (``PYTHONPYCACHEPREFIX``) and every case runs once before it is
timed, so the figures are an installed package's, not a first run's.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = ("search", "predictor-eval", "benchmark", "ws", "train", "show")
CASES: list[tuple[str, list[str], int]] = [
    ("version", ["--version"], 0),
    *((f"{name} --help", [name, "--help"], 0) for name in COMMANDS),
    ("unknown strategy", ["search", "--strategy", "bayes"], 2),
    ("bad flag value", ["search", "--budget", "0"], 2),
    ("unknown space", ["search", "--space", "bogus"], 2),
    ("bad space option", ["search", "--space", "nasbench-graph:mnist"], 2),
    ("unknown strategy option", ["search", "--set", "bogus=1"], 2),
    ("misspelt estimator option", ["search", "--set", "nao_params.epoch=5"], 2),
    ("option of the wrong type", ["search", "--set", "top_k=abc"], 2),
    ("predictor-eval unknown option", ["predictor-eval", "--set", "bogus=1"], 2),
    ("benchmark unknown option", ["benchmark", "--set", "nao.bogus=1"], 2),
    ("ws --layers of a macro space", ["ws", "--space", "enas-macro", "--layers", "3"], 2),
    ("train bad architecture", ["train", "--arch", "bogus"], 2),
    ("show bad architecture", ["show", "--arch", "0,1,9,2:gcn,gat,gcn,gat"], 2),
]


def run_once(argv: list[str], root: Path, env: dict) -> tuple[float, float, int]:
    """Wall and CPU seconds of one ``nao`` run, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], cwd=root, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def measure(root: Path, repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rows = []
        for what, argv, expected in CASES:
            run_once(argv, root, env)  # compiles and caches the bytecode
            runs = [run_once(argv, root, env) for _ in range(repeats)]
            codes = {code for _, _, code in runs}
            rows.append({"what": what, "command": "nao " + " ".join(argv),
                         "wall_s": min(w for w, _, _ in runs), "cpu_s": min(c for _, c, _ in runs),
                         "exit": codes.pop() if len(codes) == 1 else sorted(codes),
                         "expected_exit": expected})
        return rows


def table(rows: list[dict], markdown: bool) -> str:
    if markdown:
        lines = ["| case | command | exit | best wall s | best CPU s |",
                 "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['what']} | `{r['command']}` | {r['exit']} | {r['wall_s']:.2f} | "
                  f"{r['cpu_s']:.2f} |" for r in rows]
        return "\n".join(lines)
    width = max(len(r["command"]) for r in rows)
    lines = [f"{'command':{width}s}  exit  wall s   CPU s"]
    lines += [f"{r['command']:{width}s}  {r['exit']!s:>4s}  {r['wall_s']:6.2f}  {r['cpu_s']:6.2f}"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--repeats", type=int, default=5, help="timed runs per case (default 5)")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the checkout whose pipelines.cli runs (default this one)")
    p.add_argument("--markdown", action="store_true", help="a markdown table")
    p.add_argument("--limit", type=float, default=None, metavar="S",
                   help="exit 1 when a case's best wall time is over S seconds")
    args = p.parse_args(argv)
    rows = measure(args.root.resolve(), max(args.repeats, 1))
    print(table(rows, args.markdown))
    wrong = [r["command"] for r in rows if r["exit"] != r["expected_exit"]]
    slow = [r["command"] for r in rows if args.limit is not None and r["wall_s"] > args.limit]
    for command in wrong:
        print(f"cli_startup: {command} did not exit as expected", file=sys.stderr)
    for command in slow:
        print(f"cli_startup: {command} took over {args.limit} s", file=sys.stderr)
    return 1 if wrong or slow else 0


if __name__ == "__main__":
    sys.exit(main())
