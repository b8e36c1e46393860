"""One exception family for every error a user can cause.

The command line turns any :class:`NaoError` into exit code 2 and one line on stderr, so messages
must say what is wrong and how to fix it.
"""

from __future__ import annotations


class NaoError(Exception):
    """Base of all user-facing errors of the package."""


class InvalidArchitectureError(NaoError, ValueError):
    """An architecture (string or token sequence) that its search space rejects.

    ``position`` is the 0-based token position that is wrong (``None`` when the whole input is
    malformed), ``expected`` what the space would accept there.
    """

    def __init__(self, message: str, position: int | None = None, expected: str | None = None):
        super().__init__(message)
        self.position = position
        self.expected = expected


class UnknownArchitectureError(NaoError, KeyError):
    """A valid architecture that a tabular benchmark has no record of."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(NaoError, ValueError):
    """Bad options: unknown space, strategy, out-of-range numbers, mismatched resume."""


class DataError(NaoError, FileNotFoundError):
    """Data that cannot be found or read where the user said it is."""
