"""The relaxed enas-rnn cell: architecture-parameter tables onto the supernet cell's mixed path.

What :meth:`EnasRnnSpace.relaxation` gives the relaxed one-shot methods (DARTS, SNAS): the
recurrent search of DARTS on the ENAS highway cell. A ``(decisions, choices)`` weight table
(softmax probabilities for DARTS, a Gumbel-softmax sample for SNAS) over the space's token
positions (node 1's activation, then ``prev act`` for nodes 2..N) becomes
:class:`search_spaces.enas_rnn_net.RnnWeights`: per node, the weights of its activation
decision in :data:`ACTIVATIONS` order, and per node ``k`` > 1 the weights of its input decision
over nodes ``1 .. k - 1``. ``params`` is a :class:`pipelines.oneshot.arch_params.ArchParams` of
the space (read through its ``choices`` and ``derive``).

DARTS's recurrent cell keeps one input per node, the strongest (by its strongest op). Here each
node's input and activation are separate decisions with their own distributions, so keeping the
most probable input and the most probable activation of every node is the most probable choice
of every decision: the mode, :meth:`ArchParams.derive`.
"""

from __future__ import annotations

import torch

from nao.errors import ConfigError

from .base import SearchSpace
from .enas_rnn_arch import ACTIVATIONS, RnnArch
from .enas_rnn_net import RnnWeights


def act_position(k: int) -> int:
    """Token position of node ``k``'s activation."""
    return 0 if k == 1 else 2 * k - 2


def prev_position(k: int) -> int:
    """Token position of the node that node ``k`` > 1 reads."""
    return 2 * k - 3


class RnnRelaxation:
    """Weight tables of ``params`` (architecture parameters of enas-rnn) as supernet cell
    weights."""

    def __init__(self, space: SearchSpace, params):
        self.space = space
        self.params = params
        if len(params.choices) != space.length:
            raise ConfigError(f"{space.name}: the parameters have {len(params.choices)} "
                              f"decisions, the space {space.length} token positions; build "
                              f"the parameters from this space")
        self.act_rows: list[int] = []  # the activation decision of each node
        self.act_columns: list[torch.Tensor] = []  # its columns in ACTIVATIONS order
        self.prev_rows: list[int] = []  # the input decision of each node k > 1
        self.prev_columns: list[torch.Tensor] = []  # its columns for nodes 1 .. k - 1
        for k in range(1, space.nodes + 1):
            row = act_position(k)
            names = [space.vocab[t] for t in params.choices[row]]
            if sorted(names) != sorted(ACTIVATIONS):
                raise ConfigError(f"{space.name}: the choices of node {k}'s activation are "
                                  f"{names}, not the space's activations; build the parameters "
                                  f"from this space")
            self.act_rows.append(row)
            self.act_columns.append(torch.tensor([names.index(a) for a in ACTIVATIONS]))
            if k == 1:
                continue
            row = prev_position(k)
            tokens = list(params.choices[row])
            if sorted(tokens) != list(range(k - 1)):  # node j's token is j - 1
                names = [space.vocab[t] if 0 <= t < len(space.vocab) else str(t)
                         for t in tokens]
                raise ConfigError(f"{space.name}: the choices of node {k}'s input are {names}, "
                                  f"not nodes 1..{k - 1}; build the parameters from this space")
            self.prev_rows.append(row)
            self.prev_columns.append(torch.tensor([tokens.index(j - 1) for j in range(1, k)]))

    def op_weights(self, table: torch.Tensor) -> RnnWeights:
        """The supernet cell's weights for a table (gradients flow back into it)."""
        acts = tuple(table[row, cols] for row, cols in zip(self.act_rows, self.act_columns,
                                                           strict=True))
        inputs = tuple(table[row, cols] for row, cols in zip(self.prev_rows, self.prev_columns,
                                                             strict=True))
        return RnnWeights(acts, inputs)

    def derive_top2(self) -> RnnArch:
        """The mode of every decision: DARTS's one strongest input per node (module
        docstring)."""
        return self.params.derive()
