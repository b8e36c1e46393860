"""Several ``nao ws`` runs' per-epoch curves in one PNG: supernet validation accuracy of the derived
architecture and entropy of the architecture distribution (the study's figure for SF, RELAX and
RAM), plus a table of each run's last epoch.

    python benchmarks/relaxed_methods.py --runs runs/ws-digits-sf,runs/ws-digits-ram \
        --out relaxed.png

A run is labelled by its checkpoint's controller where the directory name ends in it
(``ws-digits-ram`` -> ``ram``), else by the directory name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.viz.search_curves import plot_runs, read_log


def label(run_dir: Path) -> str:
    return run_dir.name.rsplit("-", 1)[-1] if "-" in run_dir.name else run_dir.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="run directories, comma-separated")
    parser.add_argument("--out", default="relaxed_methods.png", help="PNG to write")
    args = parser.parse_args(argv)
    dirs = [Path(d) for d in args.runs.split(",") if d]
    runs = {label(d): read_log(d) for d in dirs}
    path = plot_runs(runs, args.out)
    print(f"{'run':8} {'epochs':>6} {'entropy':>8} {'valid_derived':>13} {'wall_s':>8}")
    for name, rows in runs.items():
        last = rows[-1] if rows else {}
        print(f"{name:8} {len(rows):6d} {last.get('entropy', float('nan')):8.2f} "
              f"{last.get('valid_derived', float('nan')):13.4f} "
              f"{last.get('wall_s', float('nan')):8.1f}")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
