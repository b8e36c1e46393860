"""``synthetic:positions=P,choices=C,seed=S``: a space nobody has tuned on.

``P`` free positions of ``C`` choices each, and a score that is a fixed random function of the
tokens with interactions between positions: a random weight per (position, choice) plus a random
weight per (pair of positions, pair of choices), scaled by ``interactions``. The seed draws the
function, so each seed is a new landscape: a method developed against the NAS-Bench-Graph tables
can be checked here on data it has never seen, and the small ones make fast test spaces.

It is :class:`Tabular`: the whole table is computed on first use (``C ** P`` architectures, at
most :data:`MAX_SIZE`), so a search on it reports ranks and the optimum exactly, like any table.
``valid`` is what a search sees; ``test`` adds a second, smaller random function, as a held-out
set measures a slightly different thing.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

import numpy as np

from nao.errors import ConfigError, InvalidArchitectureError, UnknownArchitectureError
from nao.validation import shown

from .base import SearchSpace, Tabular, Tokens
from .tabular import Record, TabularBenchmark

FAMILY = "synthetic"
DEFAULTS = {"positions": 6, "choices": 5, "seed": 0, "interactions": 0.5}
BOUNDS = {"positions": (1, 24), "choices": (2, 32), "seed": (0, 2**31 - 1)}
MAX_INTERACTIONS = 10.0
MAX_SIZE = 2_000_000  # the table is computed in memory: about 50 MB at this size
OPTIONS_HELP = ("options: positions=P (1-24), choices=C (2-32), seed=S, interactions=W "
                f"(0-{MAX_INTERACTIONS:g}); at most {MAX_SIZE:,} architectures (C ** P), e.g. "
                f"{FAMILY}:positions=6,choices=5,seed=0")
TEST_NOISE = 0.1  # the weight of the test set's own function, against 1 for the shared one


class SyntheticSpace(SearchSpace, Tabular):
    """Free positions, each any of ``choices`` tokens; a seeded random score with pairwise
    interactions (see the module's docstring)."""

    def __init__(self, positions: int = 6, choices: int = 5, seed: int = 0,
                 interactions: float = 0.5):
        for key, value in (("positions", positions), ("choices", choices), ("seed", seed)):
            low, high = BOUNDS[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"{FAMILY}: {key} must be a whole number from {low} to {high}, "
                                  f"got {shown(value)}; {OPTIONS_HELP}")
        if isinstance(interactions, bool) or not isinstance(interactions, (int, float)) \
                or not 0 <= interactions <= MAX_INTERACTIONS:
            raise ConfigError(f"{FAMILY}: interactions must be a number from 0 to "
                              f"{MAX_INTERACTIONS:g}, got {shown(interactions)}; {OPTIONS_HELP}")
        if choices ** positions > MAX_SIZE:
            raise ConfigError(f"{FAMILY}: {choices} choices at {positions} positions is "
                              f"{choices ** positions:,} architectures, more than the "
                              f"{MAX_SIZE:,} whose table is computed; use fewer positions or "
                              "choices")
        self.positions, self.choices, self.seed = positions, choices, seed
        self.interactions = float(interactions)
        self.name = f"{FAMILY}:positions={positions},choices={choices},seed={seed}"
        if self.interactions != DEFAULTS["interactions"]:
            self.name += f",interactions={self.interactions:g}"
        self.vocab = tuple(f"c{i}" for i in range(choices))
        self.length = positions
        rng = np.random.default_rng([seed, positions, choices])
        self._unary = rng.normal(size=(positions, choices))
        self._pairs = [(i, j) for i in range(positions) for j in range(i + 1, positions)]
        self._pairwise = rng.normal(size=(len(self._pairs), choices, choices))
        self._test_unary = rng.normal(size=(positions, choices))
        # the raw score's spread, so the scaled one sits in (0, 1) the same way at any size
        self._scale = np.sqrt(positions + self.interactions ** 2 * len(self._pairs))
        self._table: TabularBenchmark | None = None
        self._all = tuple(range(choices))

    # ----- grammar and conversions ------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        return self._all

    def to_tokens(self, arch: Tokens) -> Tokens:
        return tuple(arch)

    def _arch_from_tokens(self, tokens: Tokens) -> Tokens:
        return tuple(tokens)

    def to_string(self, arch: Tokens) -> str:
        return "-".join(self.vocab[t] for t in arch)

    def from_string(self, text: str) -> Tokens:
        parts = str(text).strip().split("-")
        if len(parts) != self.length:
            raise InvalidArchitectureError(
                f"{self.name}: expected {self.length} tokens c0..c{self.choices - 1} joined by "
                f"'-', got {len(parts)}", position=min(len(parts), self.length),
                expected=f"{self.length} tokens")
        tokens = []
        for pos, part in enumerate(parts):
            if part not in self.vocab:
                raise InvalidArchitectureError(
                    f"{self.name}: token {pos} is {shown(part)}; expected one of "
                    f"c0..c{self.choices - 1}", position=pos, expected=", ".join(self.vocab))
            tokens.append(self.vocab.index(part))
        return self.from_tokens(tokens)

    # ----- the score ----------------------------------------------------------------------------
    def _raw(self, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw valid and test scores of architectures given as rows of token ids."""
        cols = np.arange(self.positions)
        shared = self._unary[cols, digits].sum(axis=1)
        for k, (i, j) in enumerate(self._pairs):
            shared += self.interactions * self._pairwise[k, digits[:, i], digits[:, j]]
        test = shared + TEST_NOISE * self._test_unary[cols, digits].sum(axis=1) * self._scale \
            / np.sqrt(self.positions)
        return shared, test

    def _accuracy(self, raw: np.ndarray) -> np.ndarray:
        """Scores squashed into (0, 1) like accuracies, rounded as tables record them."""
        return np.round(1.0 / (1.0 + np.exp(-1.5 * raw / self._scale)), 6)

    def lookup(self, arch: Tokens) -> Record:
        tokens = tuple(arch)
        if len(tokens) != self.length or any(not 0 <= t < self.choices for t in tokens):
            raise UnknownArchitectureError(f"{self.name} has no architecture {tokens!r}")
        valid, test = self._raw(np.array([tokens]))
        return Record(float(self._accuracy(valid)[0]), float(self._accuracy(test)[0]))

    @property
    def size(self) -> int:
        return self.choices ** self.positions

    @property
    def benchmark(self) -> TabularBenchmark:
        if self._table is None:
            digits = np.indices((self.choices,) * self.positions).reshape(self.positions, -1).T
            valid, test = (self._accuracy(r) for r in self._raw(digits))
            keys: list[Hashable] = [tuple(int(t) for t in row) for row in digits]
            self._table = TabularBenchmark(
                {k: Record(float(v), float(t)) for k, v, t in zip(keys, valid, test,
                                                                  strict=True)},
                name=self.name)
        return self._table


def parse_options(arg: str | None) -> SyntheticSpace:
    """The space of the text after ``synthetic:`` (``None``: the defaults)."""
    if arg is None:
        return SyntheticSpace()
    if not arg.strip():
        raise ConfigError(f"{FAMILY}: nothing after ':'; {OPTIONS_HELP}, or use plain {FAMILY}")
    values: dict = {}
    for piece in arg.split(","):
        key, eq, value = (p.strip() for p in piece.partition("="))
        if not eq or key not in DEFAULTS:
            raise ConfigError(f"{FAMILY}: {shown(piece)} is not an option; {OPTIONS_HELP}")
        if key in values:
            raise ConfigError(f"{FAMILY}: {key} is given twice; {OPTIONS_HELP}")
        if key == "interactions":
            if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", value):
                raise ConfigError(f"{FAMILY}: interactions={shown(value)} is not a number from 0 "
                                  f"to {MAX_INTERACTIONS:g}; {OPTIONS_HELP}")
            values[key] = float(value)
        else:
            if not re.fullmatch(r"[0-9]{1,10}", value):
                raise ConfigError(f"{FAMILY}: {key}={shown(value)} is not a whole number; "
                                  f"{OPTIONS_HELP}")
            values[key] = int(value)
    return SyntheticSpace(**{**DEFAULTS, **values})
