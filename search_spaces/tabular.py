"""Tabular benchmarks: recorded validation and test accuracy for every architecture of a space.

A table lets a search be run in seconds and judged exactly: ranks say where the pick stands among
all architectures, not just against other searches.
"""

from __future__ import annotations

import pickle
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nao.errors import DataError


@dataclass(frozen=True)
class Record:
    """What a table holds for one architecture."""

    valid: float
    test: float


class TabularBenchmark:
    """Validation/test accuracy by canonical key, with ranks among all entries.

    Rank 1 is the best in the table; ties share the better rank.
    """

    def __init__(self, records: Mapping[Hashable, Record], name: str = "table"):
        if not records:
            raise DataError(f"{name}: the table is empty")
        self.name = name
        self.records = dict(records)
        self._valid_sorted = np.sort(np.array([r.valid for r in self.records.values()]))
        self._test_sorted = np.sort(np.array([r.test for r in self.records.values()]))

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.records

    def get(self, key: Hashable) -> Record | None:
        return self.records.get(key)

    @staticmethod
    def _rank(sorted_values: np.ndarray, value: float) -> int:
        return int(len(sorted_values) - np.searchsorted(sorted_values, value, side="right") + 1)

    def valid_rank(self, value: float) -> int:
        """1 + the number of table entries with strictly higher validation accuracy."""
        return self._rank(self._valid_sorted, value)

    def test_rank(self, value: float) -> int:
        """1 + the number of table entries with strictly higher test accuracy."""
        return self._rank(self._test_sorted, value)

    @property
    def optimum_valid(self) -> float:
        return float(self._valid_sorted[-1])

    @property
    def optimum_test(self) -> float:
        return float(self._test_sorted[-1])


class _NumpyScalarUnpickler(pickle.Unpickler):
    """Admits only the numpy scalar reconstruction the benchmark files use, so a tampered file
    cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: benchmark tables hold only numbers"
            )
        if name == "dtype":
            return np.dtype
        try:
            from numpy._core.multiarray import scalar  # numpy >= 2
        except ImportError:  # pragma: no cover - numpy 1.x
            from numpy.core.multiarray import scalar
        return scalar


def load_pickle_table(path: Path) -> object:
    """Load a benchmark pickle with the restricted unpickler."""
    try:
        with open(path, "rb") as fh:
            return _NumpyScalarUnpickler(fh).load()
    except FileNotFoundError as exc:
        raise DataError(f"benchmark table not found at {path}; reinstall nas-bench-graph") from exc
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: {exc}") from exc
