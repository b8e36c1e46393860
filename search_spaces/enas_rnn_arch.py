"""Architecture types of the enas-rnn space, apart from the space and its networks (as DARTS
keeps ``genotypes.py``): nothing here needs torch.

A recurrent cell (ENAS, NAO's PTB cell) has N nodes, numbered 1..N. Node 1 reads the cell's
input ``x_t`` and the previous hidden state ``h_{t-1}``; node ``k`` > 1 reads one earlier node
``prev`` (1..k-1). Each node applies an activation; the cell's output (the new hidden state) is
the mean of the loose ends, the nodes no later node reads. Every node has one input, so a cell
is a tree rooted at node 1.
"""

from __future__ import annotations

from typing import NamedTuple

# the activation names in token order (the vocabulary after the node numbers): a saved
# architecture's tokens depend on it; search_spaces.enas_rnn_net.ACTIVATIONS computes each
ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")
CELL_INPUT = 0  # node 1's ``prev``: the cell input (x_t, h_{t-1}), not a node


class RnnNode(NamedTuple):
    """The node read (``CELL_INPUT`` for node 1, else 1..k-1 for node k) and the activation."""

    prev: int
    act: str


class RnnArch(NamedTuple):
    """The cell's nodes, node 1 first."""

    nodes: tuple[RnnNode, ...]


def loose_ends(arch: RnnArch) -> tuple[int, ...]:
    """Numbers (1-based) of the nodes no later node reads: their mean is the cell output."""
    read = {node.prev for node in arch.nodes}
    return tuple(k for k in range(1, len(arch.nodes) + 1) if k not in read)


def edges(arch: RnnArch) -> tuple[tuple[int, int], ...]:
    """``(k, prev)`` for every node ``k`` > 1: the weight matrices the cell uses."""
    return tuple((k, node.prev) for k, node in enumerate(arch.nodes, start=1) if k > 1)


def children(arch: RnnArch) -> dict[int, list[int]]:
    """Node -> the nodes that read it, in node order (the tree below node 1)."""
    out: dict[int, list[int]] = {k: [] for k in range(1, len(arch.nodes) + 1)}
    for k, node in enumerate(arch.nodes, start=1):
        if k > 1:
            out[node.prev].append(k)
    return out


def renumber(arch: RnnArch, order: list[int]) -> RnnArch:
    """The same cell with its nodes listed in ``order`` (old numbers; a parent before each of its
    children), so node ``order[i]`` becomes node ``i + 1``."""
    new = {old: i + 1 for i, old in enumerate(order)}
    nodes = []
    for old in order:
        node = arch.nodes[old - 1]
        nodes.append(RnnNode(CELL_INPUT if node.prev == CELL_INPUT else new[node.prev], node.act))
    return RnnArch(tuple(nodes))
