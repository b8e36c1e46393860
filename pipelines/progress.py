"""Progress on stderr: a tqdm bar on a terminal, plain lines anywhere else.

A bar redraws itself with carriage returns and cursor codes, which a log file or a pipe keeps
as garbage. When stderr is not a terminal, :func:`progress` gives a :class:`PlainProgress`
instead: one line per step (an epoch), or every ``every`` steps, each whole and ending in a
newline, and nothing for a bar that only shows the progress within a step (``leave=False``).
Every command's progress goes through it; ``--quiet`` turns it off. Importing this module
imports neither torch nor tqdm.
"""

from __future__ import annotations

import sys
import time


def progress(enabled: bool, *, every: int = 1, **kwargs):
    """A tqdm bar on stderr when it is a terminal, else a :class:`PlainProgress` writing a line
    every ``every`` steps; disabled (``--quiet``), one that writes nothing. ``kwargs`` are
    tqdm's (``total``, ``initial``, ``unit``, ``desc``, ``leave``)."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(file=sys.stderr, dynamic_ncols=True, **kwargs)
    silent = not enabled or kwargs.get("leave", True) is False
    return PlainProgress(every=every, silent=silent, **kwargs)


class PlainProgress:
    """The part of tqdm's interface the commands use, writing plain lines to stderr:
    ``DESC: UNIT N/TOTAL, POSTFIX [ELAPSED s]`` after every ``every``-th step and the last."""

    def __init__(self, total: int | None = None, initial: int = 0, unit: str = "it",
                 desc: str = "", leave: bool = True, every: int = 1, silent: bool = False):
        self.total, self.n, self.unit, self.desc = total, initial, unit, desc
        self.every, self.silent, self.leave = max(1, every), silent, leave
        self.postfix = ""
        self.start = time.monotonic()

    def update(self, n: int = 1) -> None:
        before, self.n = self.n, self.n + n
        due = self.n // self.every > before // self.every
        if due or (self.total is not None and before < self.total <= self.n):
            self.write_line()

    def write_line(self, postfix: str | None = None) -> None:
        """The line of the count so far and ``postfix`` (the bar's own when not given)."""
        if self.silent:
            return
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        postfix = self.postfix if postfix is None else postfix
        text = ", ".join(filter(None, [f"{self.unit} {count}", postfix]))
        head = f"{self.desc}: " if self.desc else ""
        sys.stderr.write(f"{head}{text} [{time.monotonic() - self.start:.1f} s]\n")
        sys.stderr.flush()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{key}={value}" for key, value in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        pass

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
