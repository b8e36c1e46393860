"""A run directory (``--out``): checked writable before any work, and held by one process.

Every command that writes results to a directory calls :func:`prepare_run_dir` before it
evaluates or trains anything, so a bad ``--out`` (a file, a read-only file system, ``/sys``) is
a one-line error at start instead of a traceback after an epoch of work. :func:`lock_run_dir`
keeps a second process from writing into the same directory while the first one runs.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO

from nao.errors import ConfigError

try:  # POSIX advisory locks; elsewhere the lock is a no-op
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
RESUME_NEEDS_OUT = "--resume needs --out DIR (the run directory to continue)"


def check_resume(resume: bool, out_dir: str | Path | None) -> None:
    """A resume names the directory it continues: the one check ``nao search``, ``nao ws`` and
    ``nao train`` (their commands and their Python entry points) share."""
    if resume and out_dir is None:
        raise ConfigError(RESUME_NEEDS_OUT)


def prepare_run_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and prove a file can be written there; else ConfigError."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, not a directory; choose a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            reason = f"{reason} (read-only or not yours)"
        raise ConfigError(f"--out {path}: cannot write there: {reason}; choose a writable "
                          "directory") from None
    return path


class RunDirLock:
    """An exclusive, non-blocking lock on a run directory, released by :meth:`release` (or by
    the process ending, even on kill -9)."""

    def __init__(self, out_dir: str | Path, what: str = "run"):
        self.path = Path(out_dir) / LOCK_FILE
        self._fh: IO[str] | None = None
        if fcntl is None:
            return
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ConfigError(f"another {what} is writing to {Path(out_dir)}; wait for it to "
                                  "finish or choose another --out") from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_run_dir(out_dir: str | Path, what: str = "run") -> RunDirLock:
    """:func:`prepare_run_dir`, then the directory's lock (ConfigError if another holds it)."""
    prepare_run_dir(out_dir)
    return RunDirLock(out_dir, what)
