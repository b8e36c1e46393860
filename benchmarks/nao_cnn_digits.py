"""nao-cnn on digits, children trained from scratch (NAO as published, without weight sharing):
NAO vs random search on the same budget and seed, then each pick retrained from scratch with one
recipe and scored on test.

Both searches train ``--budget`` distinct children of the space's default size (8 channels, one
normal cell per stage) for ``--epochs`` epochs each, scored by validation accuracy. NAO starts
with ``--n-init`` random children, then proposes rounds of 10 (``n_init`` 10 and budget 30 gives
it two rounds of its own). The pick of each search is retrained by ``nao train`` for
``--retrain-epochs`` epochs at ``--retrain-channels`` / ``--retrain-layers``, over seeds
0..``--retrain-seeds``-1. Every step is the CLI command printed before it runs, so a figure can
be checked by hand. Prints a markdown table.

    python benchmarks/nao_cnn_digits.py --budget 30 --epochs 5 --retrain-epochs 20
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = "nao-cnn"
STRATEGY_SETS = {"nao": ["n_init={n_init}", "round_size=10", "top_k=10"], "random": []}


def run_json(command: list[str]) -> dict:
    """Run one ``nao`` command with ``--json`` and return its JSON object (timed)."""
    print("$ " + shlex.join(command), file=sys.stderr, flush=True)
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    result["command_wall_s"] = round(time.perf_counter() - start, 1)
    return result


def search(strategy: str, args: argparse.Namespace, out_dir: Path) -> dict:
    command = ["nao", "search", "--space", SPACE, "--data", "digits", "--strategy", strategy,
               "--budget", str(args.budget), "--epochs", str(args.epochs),
               "--seed", str(args.seed), "--out", str(out_dir / strategy), "--json", "--quiet"]
    for item in STRATEGY_SETS[strategy]:
        command += ["--set", item.format(n_init=args.n_init)]
    return run_json(command)


def retrain(arch: str, seed: int, args: argparse.Namespace) -> dict:
    return run_json(["nao", "train", "--space", SPACE, "--arch", arch, "--data", "digits",
                     "--epochs", str(args.retrain_epochs), "--channels",
                     str(args.retrain_channels), "--layers", str(args.retrain_layers),
                     "--seed", str(seed), "--json", "--quiet"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--epochs", type=int, default=5, help="epochs per child in the search")
    p.add_argument("--n-init", type=int, default=10, help="NAO's random children before round 1")
    p.add_argument("--seed", type=int, default=0, help="seed of both searches")
    p.add_argument("--retrain-epochs", type=int, default=20)
    p.add_argument("--retrain-channels", type=int, default=16)
    p.add_argument("--retrain-layers", type=int, default=1)
    p.add_argument("--retrain-seeds", type=int, default=2)
    p.add_argument("--json-out", help="also write every figure to this JSON file")
    args = p.parse_args()

    rows, report = [], {"settings": vars(args), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in ("nao", "random"):
            found = search(strategy, args, Path(tmp))
            best = found["best"]
            tests = [retrain(best["arch"], s, args)["test_accuracy"]
                     for s in range(args.retrain_seeds)]
            report["runs"][strategy] = {"search_wall_s": found["wall_s"], "pick": best["arch"],
                                        "pick_valid": best["valid"], "pick_child_test":
                                        best.get("test"), "retrained_test": tests}
            mean = sum(tests) / len(tests)
            rows.append(f"| {strategy} | {args.budget} | {found['wall_s']:.0f} | "
                        f"{best['valid']:.4f} | {' / '.join(f'{t:.4f}' for t in tests)} | "
                        f"{mean:.4f} |")
    print(f"nao-cnn on digits, seed {args.seed}: {args.budget} children x {args.epochs} epochs "
          f"(8 channels, 1 cell/stage); picks retrained {args.retrain_epochs} epochs at "
          f"{args.retrain_channels} channels, {args.retrain_layers} cell(s)/stage, seeds "
          f"0..{args.retrain_seeds - 1}\n")
    print("| strategy | children | search wall (s) | pick valid (child) | retrained test per "
          "seed | mean |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    for strategy, run in report["runs"].items():
        print(f"\n{strategy} pick: {run['pick']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
