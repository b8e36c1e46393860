"""Checks for option values, shared by every estimator and strategy.

Options arrive from Python callers and from ``--set KEY=VALUE`` (JSON, so ``abc``, ``null``,
``1.5`` or ``1e308`` are all possible). Each check returns the value when it is of the right type
and range and otherwise raises a :class:`ConfigError` naming the option, what it got and what
it accepts, so a bad option stops a command before any work instead of deep inside torch.

Whole numbers must be real integers: ``True`` and ``1.5`` are refused and so is ``3.0`` (JSON
writes integers without a point). Real numbers may be given as integers but must be finite.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real
from typing import Any

from .errors import ConfigError

_MAX_SHOWN = 40  # characters of a bad value quoted in a message
JSON_NAMES = {None: "null", True: "true", False: "false"}  # as the user typed them in --set


def shown(value: Any) -> str:
    """A bad value as a message quotes it: its repr, on one line, cut when long."""
    text = JSON_NAMES.get(value, repr(value)) if value is None or isinstance(value, bool) \
        else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def shown_text(text: Any) -> str:
    """User text a message names as typed (a path, a word of the command line): unquoted, on
    one line, cut like :func:`shown` when long."""
    text = " ".join(str(text).split()) if "\n" in str(text) else str(text)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def shown_key(key: Any) -> str:
    """An option name as a message quotes it: plain when it is a name, else like a value."""
    plain = isinstance(key, str) and key.isidentifier() and len(key) <= _MAX_SHOWN
    return key if plain else shown(key)


def _fail(owner: str, name: str, accepts: str, value: Any, why: str = "") -> ConfigError:
    return ConfigError(f"{owner}: {name} must be {accepts}, got {shown(value)}"
                       + (f"; {why}" if why else ""))


def _bounds(low: float | None, high: float | None, low_open: bool = False,
            high_open: bool = False) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def _in_range(value: float, low: float | None, high: float | None, low_open: bool,
              high_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def _optional(accepts: str, optional: bool) -> str:
    return f"{accepts} or null" if optional else accepts


def check_int(owner: str, name: str, value: Any, low: int | None = None,
              high: int | None = None, optional: bool = False, why: str = "") -> int | None:
    """A whole number in ``[low, high]`` (``None`` too when ``optional``); ``why`` is said
    after a refusal (why the bound is where it is)."""
    if value is None and optional:
        return None
    accepts = _optional(" ".join(filter(None, ["a whole number", _bounds(low, high)])), optional)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _fail(owner, name, accepts, value)
    if not _in_range(value, low, high, False, False):
        raise _fail(owner, name, accepts, value, why)
    return int(value)


def check_float(owner: str, name: str, value: Any, low: float | None = None,
                high: float | None = None, low_open: bool = False, high_open: bool = False,
                optional: bool = False) -> float | None:
    """A finite real number in the given range (``low_open``: ``low`` itself excluded)."""
    if value is None and optional:
        return None
    accepts = _optional(" ".join(filter(None, ["a finite number",
                                                _bounds(low, high, low_open, high_open)])),
                        optional)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(owner, name, accepts, value)
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        raise _fail(owner, name, accepts, value) from None
    if not math.isfinite(number) or not _in_range(number, low, high, low_open, high_open):
        raise _fail(owner, name, accepts, value)
    return number


def check_bool(owner: str, name: str, value: Any) -> bool:
    """``True`` or ``False`` exactly (``"maybe"``, ``1`` and ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise _fail(owner, name, "true or false", value)
    return value


def check_choice(owner: str, name: str, value: Any, choices: Collection[str],
                 optional: bool = False) -> str | None:
    """One of ``choices`` (strings)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        raise _fail(owner, name, _optional(f"one of {', '.join(choices)}", optional), value)
    return value


def check_options(owner: str, name: str, value: Any, accepted: Collection[str],
                  optional: bool = False) -> dict | None:
    """A mapping whose keys are all among ``accepted`` (its values are checked by the caller)."""
    if value is None and optional:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        accepts = _optional("a group of options", optional)
        raise ConfigError(f"{owner}: {name} must be {accepts} (--set {name}.KEY=VALUE), got "
                          f"{shown(value)}")
    unknown = sorted(set(value) - set(accepted))
    if unknown:
        raise ConfigError(f"{owner}: {name} has no option "
                          f"{', '.join(shown_key(k) for k in unknown[:3])}"
                          f"{' ...' if len(unknown) > 3 else ''}; "
                          f"it takes {', '.join(sorted(accepted))}")
    return value
