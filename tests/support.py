"""Helpers several test modules share (importable as ``support``: pytest puts tests/ on the
path for its conftest)."""

from __future__ import annotations

import os
import pathlib

from pipelines.evaluators import Evaluation, TableEvaluator


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
