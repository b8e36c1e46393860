"""Per-epoch curves of several one-shot runs in one figure: what the study of SF, RELAX and RAM drew
(supernet validation accuracy and the entropy of the architecture distribution during the
search), for any runs whose per-epoch rows (``log.jsonl``) hold those keys."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from nao.errors import ConfigError

# key in a log row -> axis label
PANELS = {"valid_derived": "supernet valid acc (derived arch)",
          "entropy": "entropy of p(arch), nats"}


def read_log(run_dir: str | Path) -> list[dict]:
    """The per-epoch rows of a run directory's ``log.jsonl`` (one-line error when missing)."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path}: no log.jsonl; give run directories of nao ws (--out DIR)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_runs(runs: Mapping[str, Sequence[dict]], out: str | Path,
              panels: Mapping[str, str] = PANELS) -> Path:
    """One panel per ``panels`` key, one line per run (label -> rows with ``epoch``); runs that
    lack a key are left out of that panel. Writes a PNG to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ConfigError("no runs to plot; give at least one run directory")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels.items(), strict=True):
        for name, rows in runs.items():
            points = [(r["epoch"], r[key]) for r in rows if key in r and r[key] is not None]
            if points:
                ax.plot(*zip(*points, strict=True), label=name, marker="." if len(points) < 30
                        else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
