"""The training room: offline image data, where training runs (CPU / CUDA), run directories
(checked, locked, checkpointed, logged) and the final training of one architecture from scratch.

The weight-sharing search (:mod:`pipelines.oneshot`) trains on the same data, runtime and run
files; ``nao search`` and ``nao benchmark`` use the run-directory checks only.
"""

from .data import ImageData, load_data
from .final import TrainResult, train_architecture
from .runtime import Runtime

__all__ = ["ImageData", "load_data", "TrainResult", "train_architecture", "Runtime"]
