"""Files of a training run directory: an atomic checkpoint and a per-epoch log to plot.

The checkpoint is written to a temporary file and renamed, so a run killed while saving keeps
the previous one. The log is rewritten whole from the run's history at every epoch end (CSV for
spreadsheets and pandas, JSONL for anything else), so after a resume it never holds epochs the
checkpoint does not know about.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from nao.errors import ConfigError

CHECKPOINT = "checkpoint.pt"
LOG_CSV = "log.csv"
LOG_JSONL = "log.jsonl"


def save_checkpoint(out_dir: str | Path, state: dict) -> Path:
    path = Path(out_dir) / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def open_run_dir(out_dir: str | Path, config: dict, resume: bool) -> dict | None:
    """The checkpoint to continue from (``None`` for a fresh run).

    A fresh run refuses a directory that holds a checkpoint; a resumed run refuses a missing
    one or one written with a different configuration.
    """
    path = Path(out_dir) / CHECKPOINT
    if path.exists() and not resume:
        raise ConfigError(f"{path} already holds a run; pass --resume to continue it or choose "
                          "a new --out")
    if not resume:
        return None
    if not path.exists():
        raise ConfigError(f"--resume: no checkpoint at {path}; run without --resume")
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = state.get("config", {})
    diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if diff:
        raise ConfigError(
            f"--resume: {path} was made with different {', '.join(diff)} "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in diff)}); use the same options"
        )
    return state


def write_log(out_dir: str | Path, rows: list[dict]) -> None:
    """``log.csv`` and ``log.jsonl``, one row per finished epoch."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    tmp = out / (LOG_CSV + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / LOG_CSV)
    tmp = out / (LOG_JSONL + ".tmp")
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    os.replace(tmp, out / LOG_JSONL)
