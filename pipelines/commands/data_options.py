"""What the commands that train networks (``nao ws``, ``nao train``) share when they run: the
data options' checks, the data, the runtime and the ``--out`` directory (the options themselves:
:mod:`.parsers.training`)."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from nao.errors import ConfigError

from ..training.data import check_data_options, load_data
from ..training.run_dir import check_resume, lock_run_dir
from ..training.run_files import CHECKPOINT, check_run_dir
from ..training.runtime import Runtime
from .parsers.training import THREADS, add_training_options, check_layers

# the options themselves, and the checks that need no torch, are in .parsers.training
__all__ = ["THREADS", "add_training_options", "check_layers", "check", "load", "runtime",
           "claim_out", "interrupted"]


def check(args: argparse.Namespace, text: bool = False) -> None:
    """The data options' checks that need no file, so a command refuses them before it creates
    its run directory (``text``: a text space's corpus, :func:`.text_runs.check_text_args`)."""
    from .text_runs import check_not_text_data, check_text_options

    if text:
        check_text_options(args.data, args.data_dir)
        return
    check_not_text_data(args)
    check_data_options(args.data, args.data_dir, args.download)


def load(args: argparse.Namespace):
    """The data set the options name, split by ``--seed``."""
    return load_data(args.data, seed=args.seed, data_dir=args.data_dir, download=args.download,
                     train_size=args.train_size)


def runtime(args: argparse.Namespace) -> Runtime:
    return Runtime(args.device, args.threads)


def claim_out(args: argparse.Namespace, what: str, keys: tuple[str, ...],
              text: bool = False) -> AbstractContextManager:
    """``--out`` / ``--resume`` checked before any data is loaded or any epoch runs: the
    directory is writable, no other process writes to it, and a fresh run finds no checkpoint
    there while a resumed run finds a readable one. The returned context holds the directory's
    lock for the run's lifetime."""
    check(args, text)  # bad data options are refused before --out is created
    check_resume(args.resume, args.out)
    if args.out is None:
        return nullcontext()
    if args.resume and not Path(args.out).exists():
        raise ConfigError(f"--resume: no checkpoint at {Path(args.out) / CHECKPOINT}; run "
                          "without --resume")
    lock = lock_run_dir(args.out, what)
    try:
        check_run_dir(args.out, args.resume, what, keys)
    except BaseException:
        lock.release()
        raise
    return lock


def interrupted(args: argparse.Namespace) -> KeyboardInterrupt:
    """A Ctrl-C that says truly what was kept: the last finished epoch is in ``--out``."""
    if args.out is None:
        return KeyboardInterrupt("interrupted; nothing was saved (pass --out DIR to keep a "
                                 "checkpoint at every epoch end)")
    return KeyboardInterrupt(f"interrupted; the finished epochs are in "
                             f"{Path(args.out) / CHECKPOINT}; run the same command with --resume "
                             "to continue")
