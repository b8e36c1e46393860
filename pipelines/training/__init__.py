"""The training room: offline image data, the task trained on (data, loss, metric), where
training runs (CPU / CUDA), run directories (checked, locked, checkpointed, logged), the epoch
loop's scaffolding every trainer shares, the network options, and the final training of one
architecture from scratch.

The weight-sharing search (:mod:`pipelines.oneshot`) trains on the same data, runtime and run
files; ``nao search`` and ``nao benchmark`` use the run-directory checks only.
"""

from .data import ImageData, load_data
from .epochs import RunRecord, train_epoch
from .final import TrainResult, train_architecture
from .network_options import NetworkOptions
from .runtime import Runtime
from .task import ImageClassification, Task

__all__ = ["ImageData", "load_data", "RunRecord", "train_epoch", "TrainResult",
           "train_architecture", "NetworkOptions", "Runtime", "ImageClassification", "Task"]
