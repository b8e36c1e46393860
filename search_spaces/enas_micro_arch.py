"""Architecture types of the enas-micro space, apart from the space and its networks (as DARTS
keeps ``genotypes.py``): the networks read these types, the space builds the networks, and
nothing here needs torch.

A cell has ``N_NODES`` nodes; node ``i`` has two branches, each an input and an op, and adds
their results. Inputs are numbered 0 (the cell input k-2), 1 (the cell input k-1) and ``2 + j``
(node ``j``), so node ``i`` may read 0..i+1. The nodes no later node reads are the cell's output.
"""

from __future__ import annotations

from typing import NamedTuple

# the op names in token order (the vocabulary after the inputs): a saved architecture's tokens
# depend on it; search_spaces.cnn_ops.OPS builds each
OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
N_NODES = 5
# the token layout of a cell: per node, ``in_a op_a in_b op_b``
BRANCH_FIELDS = ("in_a", "op_a", "in_b", "op_b")
TOKENS_PER_NODE = len(BRANCH_FIELDS)
TOKENS_PER_CELL = N_NODES * TOKENS_PER_NODE
N_CELL_INPUTS = 2  # the outputs of the two previous cells
CELL_INPUT_NAMES = ("c_{k-2}", "c_{k-1}")
CELL_TYPES = ("normal", "reduce")


class Node(NamedTuple):
    """Two branches: input index (0, 1 = cell inputs; 2 + j = node j) and op of each."""

    in_a: int
    op_a: str
    in_b: int
    op_b: str


class MicroArch(NamedTuple):
    """A normal and a reduction cell, ``N_NODES`` nodes each."""

    normal: tuple[Node, ...]
    reduce: tuple[Node, ...]


def branches(node: Node) -> tuple[tuple[int, str], tuple[int, str]]:
    """``(input, op)`` of each of the node's two branches."""
    return (node.in_a, node.op_a), (node.in_b, node.op_b)


def unused_nodes(cell: tuple[Node, ...]) -> tuple[int, ...]:
    """Indices of the nodes no later node takes as input: they form the cell output."""
    used = {inp - N_CELL_INPUTS for node in cell for inp in (node.in_a, node.in_b)}
    return tuple(i for i in range(len(cell)) if i not in used)


def used_cell_inputs(cell: tuple[Node, ...]) -> tuple[int, ...]:
    """Which of the two cell inputs (0 = k-2, 1 = k-1) some branch reads."""
    used = {inp for node in cell for inp in (node.in_a, node.in_b)}
    return tuple(k for k in range(N_CELL_INPUTS) if k in used)
