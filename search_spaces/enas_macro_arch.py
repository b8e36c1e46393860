"""Architecture types of the enas-macro space, apart from the space and its networks (as DARTS
keeps ``genotypes.py``): the networks read these types, the space builds the networks, and
nothing here needs torch.

The network is a chain of ``L`` layers after a stem. Nodes are numbered 0 (the stem) and ``j``
(layer ``j``, 1-based). Layer ``j`` runs its op on node ``j - 1`` and, as in ENAS's macro search
(``general_child``), may add a skip connection from every earlier node ``0 .. j - 2``, one bit
each (the node it reads anyway has no bit). The last layer is the network's output. After layers
``L // 3`` and ``2 * L // 3`` every node is halved in size and doubled in channels (ENAS's
``pool_layers``), so a skip connection across a reduction reads the reduced node.
"""

from __future__ import annotations

from typing import NamedTuple

# ENAS's branch order (0 conv 3x3, 1 sep 3x3, 2 conv 5x5, 3 sep 5x5, 4 avg pool, 5 max pool): the
# vocabulary starts with them, so a saved architecture's tokens depend on it
OPS = ("conv3", "sep3", "conv5", "sep5", "avg", "max")
OP_MEANING = {"conv3": "3x3 convolution", "sep3": "3x3 separable convolution",
              "conv5": "5x5 convolution", "sep5": "5x5 separable convolution",
              "avg": "3x3 average pooling", "max": "3x3 max pooling"}
DEFAULT_LAYERS = 12  # ENAS's macro search
STEM = 0  # node number of the stem


class Layer(NamedTuple):
    """One layer: its op and ``skips[i] == 1`` where node ``i`` feeds in by a skip connection
    (layer ``j`` has ``j - 1`` bits, for nodes ``0 .. j - 2``)."""

    op: str
    skips: tuple[int, ...]


class MacroArch(NamedTuple):
    """The layers, first to last."""

    layers: tuple[Layer, ...]


def reduction_points(n_layers: int) -> tuple[int, ...]:
    """The layers after which every node is reduced (ENAS: ``L // 3`` and ``2 * L // 3``; none
    for fewer than 3 layers)."""
    distance = n_layers // 3
    return (distance, 2 * distance) if distance else ()


def inputs_of(arch: MacroArch, j: int) -> tuple[int, ...]:
    """The nodes layer ``j`` reads: ``j - 1`` first, then its skip sources in order."""
    layer = arch.layers[j - 1]
    return (j - 1,) + tuple(i for i, bit in enumerate(layer.skips) if bit)


def read_after(arch: MacroArch, node: int, point: int) -> bool:
    """Whether some layer after ``point`` reads ``node``: then its reduced copy is needed."""
    return any(node in inputs_of(arch, j) for j in range(point + 1, len(arch.layers) + 1))


def stage_of(node: int, n_layers: int) -> int:
    """How many reductions come before ``node`` was computed (its channels double each)."""
    return sum(node > point for point in reduction_points(n_layers))
