"""The training room: offline image data, the task trained on (data, loss, metric), where
training runs (CPU / CUDA), run directories (checked, locked, checkpointed, logged), the epoch
loop's scaffolding every trainer shares, the network options, and the final training of one
architecture from scratch.

The weight-sharing search (:mod:`pipelines.oneshot`) trains on the same data, runtime and run
files; ``nao search`` and ``nao benchmark`` use the run-directory checks only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import ImageData, load_data
    from .epochs import RunRecord, train_epoch
    from .final import TrainResult, train_architecture
    from .network_options import NetworkOptions
    from .runtime import Runtime
    from .task import ImageClassification, Task

# the module of each name below, imported on first use: most import torch, which the run
# directory checks (``run_dir``, all that ``nao search`` and ``nao benchmark`` use) do not need
_MODULES = {"ImageData": "data", "load_data": "data", "RunRecord": "epochs",
            "train_epoch": "epochs", "TrainResult": "final", "train_architecture": "final",
            "NetworkOptions": "network_options", "Runtime": "runtime",
            "ImageClassification": "task", "Task": "task"}


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImageData", "load_data", "RunRecord", "train_epoch", "TrainResult",
           "train_architecture", "NetworkOptions", "Runtime", "ImageClassification", "Task"]
