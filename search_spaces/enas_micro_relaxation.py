"""The relaxed enas-micro architecture: architecture-parameter tables onto the supernet's mixed path.

What :meth:`EnasMicroSpace.relaxation` gives the relaxed one-shot methods (DARTS, SNAS; the
space declares ``mixed_path``). ``params`` is a
:class:`pipelines.oneshot.arch_params.ArchParams` of the space (read through its ``choices``,
``to_arch`` and ``probs``). A ``(decisions, choices)`` weight table (softmax probabilities for DARTS, a Gumbel-softmax sample
for SNAS) becomes :class:`search_spaces.enas_micro_net.OpWeights` with op *and* input weights
for every node and branch of both cells. The decisions are the space's token positions, which
:mod:`search_spaces.enas_micro` lays out per cell and node as ``in_a op_a in_b op_b``; the
choices of an input decision are the inputs 0..i+1, of an op decision the ops in ``OPS`` order
(checked against the space's tokens when built).

:meth:`MicroRelaxation.derive_top2` is DARTS's derivation rule on this space. DARTS keeps, for
each node, the two strongest incoming edges (by their strongest non-``none`` op) from distinct
inputs. Here a node has two branches, each with its own input and op distribution, and there is
no ``none`` op: the branch whose (input probability x strongest op probability) is the largest
keeps that input; the other branch takes its most probable input among the *other* inputs (two
distinct inputs, as DARTS); each branch keeps its most probable op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nao.errors import ConfigError

from .base import SearchSpace
from .enas_micro_arch import (
    BRANCH_FIELDS,
    CELL_TYPES,
    N_CELL_INPUTS,
    N_NODES,
    OPS,
    TOKENS_PER_CELL,
    TOKENS_PER_NODE,
    MicroArch,
    Node,
)
from .enas_micro_net import N_INPUTS, OpWeights

FIELDS = (("in_a", "op_a"), ("in_b", "op_b"))  # (input, op) field of each branch


def positions(cell: int, field: str) -> torch.Tensor:
    """Token positions of ``field`` of every node of cell ``cell``: ``(N_NODES,)``."""
    return torch.tensor([cell * TOKENS_PER_CELL + i * TOKENS_PER_NODE + BRANCH_FIELDS.index(field)
                         for i in range(N_NODES)])


class MicroRelaxation:
    """Weight tables of ``params`` (architecture parameters of enas-micro) as supernet
    weights."""

    def __init__(self, space: SearchSpace, params):
        self.space = space
        self.params = params
        # (cell, branch) -> positions of its nodes' input and op decisions
        self.inputs = [[positions(c, fi) for fi, _fo in FIELDS] for c in range(len(CELL_TYPES))]
        self.ops = [[positions(c, fo) for _fi, fo in FIELDS] for c in range(len(CELL_TYPES))]
        self._check_choices()

    def _check_choices(self) -> None:
        for c in range(len(CELL_TYPES)):
            for b in range(2):
                for i in range(N_NODES):
                    inp = self.params.choices[int(self.inputs[c][b][i])]
                    op = self.params.choices[int(self.ops[c][b][i])]
                    if inp != tuple(range(N_CELL_INPUTS + i)) or \
                            tuple(self.space.vocab[t] for t in op) != OPS:
                        raise ConfigError("enas-micro's token layout is not the one this "
                                          "relaxation reads (in_a op_a in_b op_b per node)")

    def _cell(self, table: torch.Tensor, cell: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N_NODES, 2, ops)`` op weights and ``(N_NODES, 2, N_INPUTS)`` input weights."""
        ops = torch.stack([table[self.ops[cell][b], :len(OPS)] for b in range(2)], dim=1)
        inputs = torch.stack([table[self.inputs[cell][b]] for b in range(2)], dim=1)
        width = inputs.shape[-1]
        inputs = F.pad(inputs, (0, N_INPUTS - width)) if width < N_INPUTS else \
            inputs[..., :N_INPUTS]
        return ops, inputs

    def op_weights(self, table: torch.Tensor) -> OpWeights:
        """The supernet's weights for a table (gradients flow back into it). The ``arch`` field
        is the table's argmax (the input weights replace its inputs; nothing reads its ops)."""
        arch = self.params.to_arch(table.detach().argmax(-1))
        (n_ops, n_in), (r_ops, r_in) = self._cell(table, 0), self._cell(table, 1)
        return OpWeights(arch, n_ops, r_ops, n_in, r_in)

    def derive_top2(self) -> MicroArch:
        """DARTS's rule (module docstring): two distinct strongest inputs per node."""
        with torch.no_grad():
            probs = self.params.probs()
            cells = []
            for c in range(len(CELL_TYPES)):
                ops, inputs = self._cell(probs, c)
                nodes = []
                for i in range(N_NODES):
                    n_in = N_CELL_INPUTS + i
                    strength = inputs[i, :, :n_in] * ops[i].max(-1).values[:, None]
                    first_b, first_in = divmod(int(strength.argmax()), n_in)
                    other = inputs[i, 1 - first_b, :n_in].clone()
                    other[first_in] = -1.0
                    chosen = {first_b: first_in, 1 - first_b: int(other.argmax())}
                    op_names = [OPS[int(ops[i, b].argmax())] for b in range(2)]
                    nodes.append(Node(chosen[0], op_names[0], chosen[1], op_names[1]))
                cells.append(tuple(nodes))
        arch = MicroArch(*cells)
        return self.space.from_tokens(self.space.to_tokens(arch))  # checked by the space
