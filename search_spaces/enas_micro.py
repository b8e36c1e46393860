"""ENAS micro space (Pham et al. 2018), as used by NAO-WS: a normal and a reduction cell.

Each cell has ``N_NODES`` = 5 nodes. Node ``i`` has two branches; each picks an input and an op
and the node adds the two results. Inputs are numbered 0 (the cell input k-2), 1 (the cell input
k-1) and ``2 + j`` (node ``j``), so node ``i`` may pick 0..i+1. Nodes that no later node uses are
the cell's output (concatenated, then a 1x1 conv back to the cell's channel count, as in ENAS).
The architecture types live in :mod:`.enas_micro_arch`, the networks in :mod:`.enas_micro_net`.

Tokens, per cell and per node, ``in_a op_a in_b op_b``: the normal cell's 20 then the reduction
cell's 20, 40 in all. The string form reads like a DARTS genotype::

    normal: 0 sep_conv_3x3 1 identity | 0 avg_pool_3x3 2 sep_conv_5x5 | ... ; reduce: ...

Swapping a node's two branches gives the same network, so :meth:`EnasMicroSpace.canonical` sorts
them and :meth:`EnasMicroSpace.symmetries` lists swapped variants for NAO's augmentation.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from nao.errors import InvalidArchitectureError
from nao.validation import shown

from .base import Buildable, CellGraph, GraphEdge, GraphNode, SearchSpace, Tokens
from .enas_micro_arch import (
    BRANCH_FIELDS,
    CELL_INPUT_NAMES,
    CELL_TYPES,
    N_CELL_INPUTS,
    N_NODES,
    OPS,
    TOKENS_PER_NODE,
    MicroArch,
    Node,
    unused_nodes,
)

if TYPE_CHECKING:  # the networks import torch: built on demand, not with the space
    from .enas_micro_net import ChildNetwork, Supernet

MAX_SYMMETRIES = 32  # NAO's augmentation needs a few variants, not all 2**10 branch swaps


class EnasMicroSpace(SearchSpace, Buildable):
    """``enas-micro``: 5 ops, 5 nodes per cell, normal + reduction cell, 40 tokens.

    ``ops`` and ``n_nodes`` make the same cell grammar over another op set (``nao-cnn``'s 11
    ops); the ops are names of :data:`search_spaces.cnn_ops.OPS`, in token order."""

    def __init__(self, max_symmetries: int = MAX_SYMMETRIES, ops: tuple[str, ...] = OPS,
                 n_nodes: int = N_NODES, name: str = "enas-micro"):
        self.name = name
        self.max_symmetries = max_symmetries
        self.ops = tuple(ops)
        self.n_nodes = n_nodes
        self.tokens_per_cell = n_nodes * TOKENS_PER_NODE
        self.n_inputs = N_CELL_INPUTS + n_nodes - 1  # node N-1 may read inputs 0..N
        self.vocab = tuple(f"in{k}" for k in range(self.n_inputs)) + self.ops
        self.length = len(CELL_TYPES) * self.tokens_per_cell
        self._op_ids = tuple(range(self.n_inputs, self.n_inputs + len(self.ops)))

    # ----- positions -----------------------------------------------------------------------
    def _locate(self, pos: int) -> tuple[int, int, int]:
        """(cell index, node index, field index) of token position ``pos``."""
        cell, rest = divmod(pos, self.tokens_per_cell)
        node, field = divmod(rest, TOKENS_PER_NODE)
        return cell, node, field

    def describe_position(self, pos: int) -> str:
        """``token 13 (normal cell, node 3, op_b)``: what error messages point at."""
        if not 0 <= pos < self.length:
            return f"token {pos} (past the end; {self.length} tokens)"
        cell, node, field = self._locate(pos)
        return f"token {pos} ({CELL_TYPES[cell]} cell, node {node}, {BRANCH_FIELDS[field]})"

    # ----- grammar -------------------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        pos = len(prefix)
        if pos >= self.length:
            return ()
        _cell, node, field = self._locate(pos)
        if field % 2 == 1:
            return self._op_ids
        return tuple(range(N_CELL_INPUTS + node))

    # ----- conversions ---------------------------------------------------------------------
    def to_tokens(self, arch: MicroArch) -> Tokens:
        out: list[int] = []
        for cell in arch:
            for node in cell:
                out += [
                    int(node.in_a),
                    self.n_inputs + self.ops.index(node.op_a),
                    int(node.in_b),
                    self.n_inputs + self.ops.index(node.op_b),
                ]
        return tuple(out)

    def _arch_from_tokens(self, tokens: Tokens) -> MicroArch:
        cells = []
        for c in range(len(CELL_TYPES)):
            chunk = tokens[c * self.tokens_per_cell : (c + 1) * self.tokens_per_cell]
            cells.append(
                tuple(
                    Node(chunk[k], self.vocab[chunk[k + 1]], chunk[k + 2], self.vocab[chunk[k + 3]])
                    for k in range(0, self.tokens_per_cell, TOKENS_PER_NODE)
                )
            )
        return MicroArch(*cells)

    def to_string(self, arch: MicroArch) -> str:
        parts = []
        for label, cell in zip(CELL_TYPES, arch, strict=True):
            nodes = " | ".join(f"{n.in_a} {n.op_a} {n.in_b} {n.op_b}" for n in cell)
            parts.append(f"{label}: {nodes}")
        return " ; ".join(parts)

    def from_string(self, text: str) -> MicroArch:
        n = self.n_nodes
        form = f"normal: IN OP IN OP | ... ({n} nodes) ; reduce: ... ({n} nodes)"
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: expected a string of the form {form!r}, got {type(text).__name__}",
                position=None,
                expected=form,
            )
        cells = [c.strip() for c in text.split(";")]
        if len(cells) != len(CELL_TYPES):
            raise InvalidArchitectureError(
                f"{self.name}: {shown(text)} has {len(cells)} cell(s) separated by ';'; expected "
                f"{len(CELL_TYPES)} ({form})",
                position=None,
                expected=form,
            )
        tokens: list[int] = []
        for c, (label, cell_text) in enumerate(zip(CELL_TYPES, cells, strict=True)):
            head, colon, body = cell_text.partition(":")
            if not colon or head.strip() != label:
                raise InvalidArchitectureError(
                    f"{self.name}: cell {c} must start with '{label}:', got {cell_text[:20]!r} "
                    f"(at {self.describe_position(len(tokens))}; {form})",
                    position=len(tokens),
                    expected=f"{label}:",
                )
            nodes = [n.split() for n in body.split("|")]
            for i in range(self.n_nodes):
                fields = nodes[i] if i < len(nodes) else []
                if len(fields) != TOKENS_PER_NODE:
                    raise InvalidArchitectureError(
                        f"{self.name}: {label} cell node {i} has {len(fields)} field(s) "
                        f"{shown(' '.join(fields))}; expected 4 (IN OP IN OP) at "
                        f"{self.describe_position(len(tokens))}",
                        position=len(tokens),
                        expected="IN OP IN OP",
                    )
                for field in fields:
                    tokens.append(self._parse_field(field, tuple(tokens)))
            if len(nodes) > self.n_nodes:
                raise InvalidArchitectureError(
                    f"{self.name}: {label} cell has {len(nodes)} nodes; expected {self.n_nodes}",
                    position=len(tokens),
                    expected=";" if c == 0 else "end of input",
                )
        return self._arch_from_tokens(tuple(tokens))

    def _parse_field(self, field: str, prefix: Tokens) -> int:
        """Token id of one field of the string form, checked against the grammar."""
        allowed = self.valid_tokens(prefix)
        names = [self.vocab[t][2:] if t < self.n_inputs else self.vocab[t] for t in allowed]
        if field in names:
            return allowed[names.index(field)]
        raise InvalidArchitectureError(
            f"{self.name}: {shown(field)} at {self.describe_position(len(prefix))}; "
            f"expected one of "
            f"{', '.join(names)}",
            position=len(prefix),
            expected=", ".join(names),
        )

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: MicroArch) -> list[CellGraph]:
        """One DAG per cell: inputs ``0`` (c_{k-2}) and ``1`` (c_{k-1}), nodes ``2..6`` (the
        numbers of the string form) with two op-labelled input edges each, and ``out``, the
        concatenation of the nodes no later node reads."""
        graphs = []
        for name, cell in zip(CELL_TYPES, arch, strict=True):
            nodes = [GraphNode(str(k), label, "input") for k, label in enumerate(CELL_INPUT_NAMES)]
            edges = []
            for i, node in enumerate(cell):
                me = str(N_CELL_INPUTS + i)
                nodes.append(GraphNode(me, f"node {me}", "op"))
                edges += [GraphEdge(str(node.in_a), me, node.op_a),
                          GraphEdge(str(node.in_b), me, node.op_b)]
            nodes.append(GraphNode("out", "concat", "output"))
            edges += [GraphEdge(str(N_CELL_INPUTS + i), "out") for i in unused_nodes(cell)]
            graphs.append(CellGraph(name, tuple(nodes), tuple(edges)))
        return graphs

    # ----- equivalence ---------------------------------------------------------------------
    @staticmethod
    def _swap(node: Node) -> Node:
        return Node(node.in_b, node.op_b, node.in_a, node.op_a)

    def _sort_branches(self, node: Node) -> Node:
        a, b = (node.in_a, self.ops.index(node.op_a)), (node.in_b, self.ops.index(node.op_b))
        return node if a <= b else self._swap(node)

    def canonical(self, arch: MicroArch) -> Tokens:
        """Tokens with each node's branches in sorted order: swapped branches count once.

        Other equivalences (e.g. relabelling independent nodes) are not merged.
        """
        return self.to_tokens(
            MicroArch(*(tuple(self._sort_branches(n) for n in cell) for cell in arch))
        )

    def symmetries(self, arch: MicroArch) -> list[MicroArch]:
        """``arch`` and up to ``max_symmetries - 1`` branch-swapped equivalents.

        With ``k`` nodes whose branches differ there are ``2**k`` variants. All of them are
        listed when that is at most ``max_symmetries``; otherwise every single swap, the
        all-swapped variant, then random subsets from a generator seeded by ``arch``'s tokens,
        so the list is the same on every call.
        """
        flat = [(c, i) for c, cell in enumerate(arch) for i in range(len(cell))]
        swappable = [k for k, (c, i) in enumerate(flat) if arch[c][i][:2] != arch[c][i][2:]]
        n = len(swappable)
        if 2**n <= self.max_symmetries:
            subsets = [[swappable[j] for j in range(n) if mask >> j & 1] for mask in range(2**n)]
        else:
            subsets = [[]] + [[k] for k in swappable] + [list(swappable)]
            seed = zlib.crc32(bytes(self.to_tokens(arch)))
            rng = np.random.default_rng(seed)
            seen = {tuple(s) for s in subsets}
            while len(subsets) < self.max_symmetries:
                pick = tuple(k for k in swappable if rng.random() < 0.5)
                if pick not in seen:
                    seen.add(pick)
                    subsets.append(list(pick))
        out = []
        for subset in subsets[: self.max_symmetries]:
            cells = [list(cell) for cell in arch]
            for k in subset:
                c, i = flat[k]
                cells[c][i] = self._swap(cells[c][i])
            out.append(MicroArch(*(tuple(cell) for cell in cells)))
        return out

    # ----- networks ------------------------------------------------------------------------
    mixed_path = True  # the supernet runs OpWeights: what darts and snas train through

    def relaxation(self, params):
        """Architecture parameters onto the supernet's op and input weights
        (:class:`search_spaces.enas_micro_relaxation.MicroRelaxation`)."""
        from .enas_micro_relaxation import MicroRelaxation

        return MicroRelaxation(self, params)

    def build_supernet(self, channels: int, num_classes: int, layers: int,
                       in_channels: int, stem_stride: int = 1) -> Supernet:
        """One network holding the weights of every child (ENAS weight sharing).

        ``layers`` normal cells per stage; reductions at 1/3 and 2/3 depth; ``stem_stride`` 2
        halves the input before the first cell.
        """
        from .enas_micro_net import Supernet

        return Supernet(channels, num_classes, layers, in_channels, stem_stride)

    def build(self, arch: MicroArch, channels: int, num_classes: int, layers: int,
              in_channels: int, auxiliary: bool = False, drop_path: float = 0.0,
              stem_stride: int = 1) -> ChildNetwork:
        """The child network of ``arch`` alone, for training from scratch or from the
        supernet's weights (:meth:`ChildNetwork.load_from_supernet`)."""
        from .enas_micro_net import ChildNetwork

        self.from_tokens(self.to_tokens(arch))  # reject foreign architectures early
        return ChildNetwork(arch, channels, num_classes, layers, in_channels,
                            auxiliary=auxiliary, drop_path=drop_path, stem_stride=stem_stride)
