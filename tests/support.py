"""Helpers several test modules share (importable as ``support``: pytest puts tests/ on the
path for its conftest)."""

from __future__ import annotations

import contextlib
import gzip
import os
import pathlib
import pickle
import struct

import numpy as np
import torch

from pipelines.search.evaluators import Evaluation, TableEvaluator
from pipelines.training.data import FASHION_FILES


class TouchOnLoad:
    """Unpickling this calls ``Path.touch(marker)``: the file's code ran if the marker exists."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


class SystemOnLoad(TouchOnLoad):
    """The same through a shell command, as a real attack would."""

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class CountingEvaluator(TableEvaluator):
    """A table evaluator that counts what it was asked to evaluate."""

    def __init__(self, space):
        super().__init__(space)
        self.calls = 0

    def evaluate(self, arch) -> Evaluation:
        self.calls += 1
        return super().evaluate(arch)


GENERIC_BAD_KINDS = ("pickle-code", "garbage", "empty", "truncated", "list", "tensor")


def write_generic_bad(path: pathlib.Path, kind: str, marker: pathlib.Path, good: bytes) -> bool:
    """Write a file that no torch-saved dict of ours can be read from, whatever it holds: a
    plain pickle calling ``os.system``, random bytes, nothing, the first half of ``good``, or a
    valid torch file of another type. False when ``kind`` is not one of these."""
    if kind == "pickle-code":  # a plain pickle (torch's legacy format) calling os.system
        path.write_bytes(pickle.dumps(SystemOnLoad(marker), protocol=2))
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "list":
        torch.save([1, 2], path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        return False
    return True


# ----- fake Fashion-MNIST files (the data tests and `nao ws --data-dir`) ----------------------
N_FAKE_TRAIN = 40
N_FAKE_TEST = 12
FAKE_SIZE = 28


def write_idx(path: pathlib.Path, array: np.ndarray, gz: bool = True) -> None:
    magic = 0x0800 | array.ndim
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


def make_fake_fashion(folder: pathlib.Path, gz: bool = True) -> None:
    """Four small idx files in the Fashion-MNIST naming, each image's pixels = its index."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", N_FAKE_TRAIN), ("test", N_FAKE_TEST)):
        images = np.stack([np.full((FAKE_SIZE, FAKE_SIZE), i % 256) for i in range(n)])
        images[:, 0, 0] = 1 if part == "train" else 2  # train and test images differ
        suffix = ".gz" if gz else ""
        write_idx(folder / (FASHION_FILES[f"{part}_images"] + suffix), images, gz)
        write_idx(folder / (FASHION_FILES[f"{part}_labels"] + suffix), rng.integers(10, size=n),
                  gz)


BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str):
    """A script of benchmarks/ (not a package) imported as a module, for its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kill_after_epoch(monkeypatch, n: int) -> list[int]:
    """Make every epoch loop (``RunRecord``, which writes the log after each checkpoint) raise
    KeyboardInterrupt right after epoch ``n`` is saved, as a kill would land; returns the list of
    row counts each log write saw, so a test can tell which epochs ran."""
    import pipelines.training.epochs as epochs

    real_write_log = epochs.write_log
    calls: list[int] = []

    def write_then_kill(out_dir, rows):
        real_write_log(out_dir, rows)
        calls.append(len(rows))
        if len(rows) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(epochs, "write_log", write_then_kill)
    return calls


def killed_and_resumed(make, data, out_dir, monkeypatch):
    """A one-shot search ``make(**options)`` fitted whole for 2 epochs, and fitted into
    ``out_dir``, killed after epoch 1 and resumed, torch's global generator reseeded between
    (the resume must owe nothing to it); checks that the resume ran epoch 2 only. Returns the
    two fitted searches, ``(whole, resumed)``."""
    import pytest

    whole = make(epochs=2).fit(data)
    calls = kill_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        make(epochs=2, out_dir=out_dir).fit(data)
    torch.manual_seed(123)
    resumed = make(epochs=2, out_dir=out_dir, resume=True).fit(data)
    assert calls == [1, 2]  # the finished epoch was not run again
    return whole, resumed


def untimed(history: list[dict]) -> list[dict]:
    """A search's log rows without their wall times, which no rerun repeats."""
    return [{k: v for k, v in row.items() if k not in ("epoch_s", "wall_s")} for row in history]


# ----- the command line in-process --------------------------------------------------------------
def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``nao ARGS`` in this process: its exit code, stdout and stderr. An argparse error (which
    exits instead of returning) gives its exit code too."""
    from pipelines.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str, command: str = "") -> str:
    """A command refused its input as the CLI promises: exit 2 and exactly one stderr line,
    ``nao COMMAND: error: ...`` (that ``command`` when given), holding each of ``fragments``.
    Returns that line."""
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    line = err.rstrip("\n")
    assert line.startswith("nao ") and ": error: " in line, err
    if command:
        assert line.startswith(f"nao {command}: error: "), err
    for fragment in fragments:
        assert fragment in line, (fragment, err)
    return line


@contextlib.contextmanager
def read_only(folder: pathlib.Path):
    """``folder`` read-only for this process while the block runs, root included: its mode is
    r-x (what the kernel enforces for other users) and, since root's writes pass any mode bits,
    making or opening for writing anything directly inside it raises PermissionError (EACCES),
    the kernel's answer to a user without write permission there."""
    import errno

    import pytest

    folder = pathlib.Path(folder).resolve()
    real_mkdir, real_open = os.mkdir, os.open
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def refuse(path) -> None:
        if pathlib.Path(os.path.abspath(os.fspath(path))).parent == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def mkdir(path, *args, **kwargs):
        refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if flags & writes:
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    folder.chmod(0o500)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "mkdir", mkdir)
            patch.setattr(os, "open", open_)
            yield
    finally:
        folder.chmod(0o700)
