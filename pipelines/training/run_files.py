"""Files of a training run directory: an atomic checkpoint and a per-epoch log to plot.

The checkpoint is written to a temporary file and renamed, so a run killed while saving keeps
the previous one. The log is rewritten whole from the run's history at every epoch end (CSV for
spreadsheets and pandas, JSONL for anything else), so after a resume it never holds epochs the
checkpoint does not know about.

A checkpoint is read as plain data (``weights_only``), so a crafted file in a shared run directory
cannot run code; what is saved is therefore plain too (numpy scalars become Python numbers). A
file that is not a checkpoint of the command resuming it is a one-line :class:`ConfigError`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from nao.errors import ConfigError
from nao.estimator import load_plain, one_line

CHECKPOINT = "checkpoint.pt"
LOG_CSV = "log.csv"
LOG_JSONL = "log.jsonl"


def save_checkpoint(out_dir: str | Path, state: dict) -> Path:
    """Write ``state`` atomically: a kill while saving leaves the previous checkpoint whole, and
    the new one is on disk before it replaces it (so a crash of the machine cannot leave an
    empty file under the checkpoint's name)."""
    path = Path(out_dir) / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(plain(state), tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def plain(obj):
    """``obj`` with numpy scalars and arrays turned into Python numbers and lists, the types a
    ``weights_only`` load accepts (tensors, containers and strings pass through)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


def check_run_dir(out_dir: str | Path, resume: bool, what: str,
                  keys: tuple[str, ...]) -> dict | None:
    """The checks a run directory must pass before any work: a fresh run refuses a directory
    that holds a checkpoint, a resumed run one without a readable checkpoint of ``what``.
    Returns that checkpoint (``None`` for a fresh run)."""
    path = Path(out_dir) / CHECKPOINT
    if path.exists() and not resume:
        raise ConfigError(f"{path} already holds a run; pass --resume to continue it or choose "
                          "a new --out")
    return read_checkpoint(path, what, keys) if resume else None


def read_checkpoint(path: Path, what: str, keys: tuple[str, ...]) -> dict:
    """The checkpoint at ``path``, read as plain data; ConfigError unless it is a dict with
    ``keys`` and a ``config`` dict."""
    if not path.exists():
        raise ConfigError(f"--resume: no checkpoint at {path}; run without --resume")
    try:
        state = load_plain(path)
    except ValueError as exc:
        raise not_a_checkpoint(path, what, str(exc)) from None
    if not isinstance(state, dict):
        raise not_a_checkpoint(path, what, f"it holds a {type(state).__name__}")
    missing = [k for k in ("config", *keys) if k not in state]
    if missing:
        raise not_a_checkpoint(path, what, f"no {', '.join(missing)}")
    if not isinstance(state["config"], dict):
        raise not_a_checkpoint(path, what, "its config is not a dict")
    return state


def not_a_checkpoint(path: Path, what: str, reason: str) -> ConfigError:
    return ConfigError(f"--resume: {path} is not a checkpoint of {what} ({reason}); remove it or "
                       "choose another --out")


def open_run_dir(out_dir: str | Path, config: dict, resume: bool, what: str = "this command",
                 keys: tuple[str, ...] = ()) -> dict | None:
    """The checkpoint to continue from (``None`` for a fresh run).

    Besides :func:`check_run_dir`'s rules, a resumed run refuses a checkpoint written with a
    different configuration.
    """
    state = check_run_dir(out_dir, resume, what, keys)
    if state is None:
        return None
    path = Path(out_dir) / CHECKPOINT
    saved = state["config"]
    diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if diff:
        raise ConfigError(
            f"--resume: {path} was made with different {', '.join(diff)} "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in diff)}); use the same options"
        )
    return state


@contextmanager
def restoring(out_dir: str | Path, what: str) -> Iterator[None]:
    """Turn a checkpoint whose keys are right but whose contents do not fit (wrong shapes or
    types) into the one-line error instead of a traceback from deep inside torch."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise not_a_checkpoint(Path(out_dir) / CHECKPOINT, what, one_line(exc)) from None


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
