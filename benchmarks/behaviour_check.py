"""Record what the CLI does for fixed seeds, and check later that a refactor changed none of it.

    python benchmarks/behaviour_check.py record behaviour.json   # before the change
    python benchmarks/behaviour_check.py check behaviour.json    # after it: exit 1 on a change

Cases: every registered search strategy on ``nasbench-graph:cora`` for seeds 0-2 at budget 60
(the whole history: architecture, validation and test accuracy per query, and the pick);
``nao ws`` on digits for 2 epochs with the controllers nao, rl, random, sf and darts (the pick,
its candidates and the per-epoch log); every bundled ``nao ws`` controller on every
weight-sharing space (enas-micro, enas-macro, enas-rnn), 2 epochs at the contract test's tiny
sizes (``ws matrix ...``). ``--only TEXT`` runs the cases whose name holds it (``--only ws``:
the weight-sharing ones). Timings and paths are dropped. Floating-point results differ between
machines, so record and check on the same machine with the same torch; the cases run through
the installed ``nao`` command, the interface that a refactor must keep.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.oneshot.methods import BUNDLED, METHODS, POOL

SPACE = "nasbench-graph:cora"
STRATEGIES = ("nao", "nao-paper", "random", "rl", "evolution", "tpe")
SEEDS = (0, 1, 2)
BUDGET = 60
WS_EPOCHS = 2
WS_CONTROLLERS = ("nao", "rl", "random", "sf", "darts")
DROPPED = ("wall_s", "epoch_s", "out")  # what may differ between two identical runs
# every bundled controller on every weight-sharing space at the contract test's tiny sizes
MATRIX_SPACES = ("enas-micro", "enas-macro:layers=3", "enas-rnn:nodes=3")
MATRIX_IMAGE = ["--data", "standin:1x8x8", "--train-size", "60", "--channels", "4", "--layers",
                "1", "--batch-size", "20"]
MATRIX_TEXT = ["--data", "standin-text", "--train-size", "2000", "--hidden", "8",
               "--batch-size", "8", "--bptt", "10"]


def nao_command() -> list[str]:
    """The installed ``nao`` next to this Python (the console script a user runs)."""
    script = Path(sys.executable).with_name("nao")
    if not script.exists():
        sys.exit(f"no nao command beside {sys.executable}; install the package (pip install -e .)")
    return [str(script)]


def strip(value):
    """``value`` without the fields that time or place a run."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in DROPPED}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def run(args: list[str]) -> dict:
    done = subprocess.run(nao_command() + args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"nao {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def search_case(strategy: str, seed: int) -> dict:
    return strip(run(["search", "--space", SPACE, "--strategy", strategy, "--budget",
                      str(BUDGET), "--seed", str(seed), "--json", "--quiet"]))


def ws_case(controller: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = strip(run(["ws", "--data", "digits", "--controller", controller, "--epochs",
                         str(WS_EPOCHS), "--seed", "0", "--out", tmp, "--json", "--quiet"]))
        out["log"] = [strip(json.loads(line)) for line in
                      (Path(tmp) / "log.jsonl").read_text().splitlines()]
    return out


def ws_matrix_case(space: str, controller: str) -> dict:
    data = MATRIX_TEXT if space.startswith("enas-rnn") else MATRIX_IMAGE
    extra = [] if METHODS[controller].family != POOL else ["--pool-size", "3"]
    if controller == "nao":  # a short NAO fit: the case checks the loop, not NAO's quality
        extra += ["--set", "nao_params.epochs=3", "--set", "pretrain_archs=0"]
    return strip(run(["ws", "--space", space, "--controller", controller, *data, "--epochs",
                      str(WS_EPOCHS), "--device", "cpu", "--threads", "1", "--seed", "3",
                      "--json", "--quiet", *extra]))


def record_all(jobs: int, only: str = "") -> dict:
    cases = {f"search {s} seed {k}": (search_case, (s, k)) for s in STRATEGIES for k in SEEDS}
    cases |= {f"ws {c} digits {WS_EPOCHS} epochs": (ws_case, (c,)) for c in WS_CONTROLLERS}
    cases |= {f"ws matrix {c} on {s}": (ws_matrix_case, (s, c))
              for s in MATRIX_SPACES for c in BUNDLED}
    cases = {name: case for name, case in cases.items() if only in name}
    with ThreadPoolExecutor(jobs) as pool:  # each case is its own process
        futures = {name: pool.submit(fn, *args) for name, (fn, args) in cases.items()}
        return {name: f.result() for name, f in futures.items()}


def differences(before: dict, after: dict) -> list[str]:
    """The cases whose output changed, each with the first differing key."""
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a != b:
            where = "missing" if a is None or b is None else next(
                (k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)), "?")
            out.append(f"{name}: {where}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=("record", "check"))
    p.add_argument("file", type=Path, help="the recorded behaviour (JSON)")
    p.add_argument("--jobs", type=int, default=2, help="cases run at once (2)")
    p.add_argument("--only", default="", help="run the cases whose name holds this text")
    args = p.parse_args(argv)
    if args.mode == "check" and not args.file.exists():
        sys.exit(f"{args.file}: no such file; record it first on the code before the change")
    now = record_all(args.jobs, args.only)
    if args.mode == "record":
        args.file.write_text(json.dumps(now, indent=1) + "\n")
        print(f"recorded {len(now)} cases in {args.file}")
        return 0
    before = {k: v for k, v in json.loads(args.file.read_text()).items() if args.only in k}
    changed = differences(before, now)
    print("\n".join(changed) if changed else f"all {len(now)} cases unchanged")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
