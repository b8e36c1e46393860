"""The relaxed enas-macro network: architecture-parameter tables onto the supernet's mixed path.

What :meth:`EnasMacroSpace.relaxation` gives the relaxed one-shot methods (DARTS, SNAS). A
``(decisions, choices)`` weight table (softmax probabilities for DARTS, a Gumbel-softmax sample
for SNAS) over the space's token positions becomes :class:`MacroWeights`: per layer, the weights
of its op decision in the supernet's op order, and the weight of bit 1 of each skip decision.
``params`` is a :class:`pipelines.oneshot.arch_params.ArchParams` of the space (read through its
``choices``, ``to_arch`` and ``derive``).

DARTS's top-2 inputs rule is for cells whose nodes read two inputs; a macro layer reads its
predecessor and any number of skips, each an independent decision, so the pick is the most
probable choice of every decision (the mode), as for the other methods.
"""

from __future__ import annotations

import torch

from nao.errors import ConfigError

from .base import SearchSpace
from .enas_macro_arch import MacroArch
from .enas_macro_net import MacroWeights


class MacroRelaxation:
    """Weight tables of ``params`` (architecture parameters of enas-macro) as supernet
    weights."""

    def __init__(self, space: SearchSpace, params):
        self.space = space
        self.params = params
        self.op_rows: list[int] = []  # the op decision of each layer
        self.op_columns: list[torch.Tensor] = []  # its columns in the supernet's op order
        self.skip_rows: list[torch.Tensor] = []  # the skip decisions of each layer
        one = space.vocab.index("1")
        for j in range(1, space.n_layers + 1):
            start = space.layer_start(j)
            names = [space.vocab[t] for t in params.choices[start]]
            if sorted(names) != sorted(space.ops):
                raise ConfigError(f"{space.name}: the choices of layer {j}'s op are {names}, "
                                  f"not the space's ops; build the parameters from this space")
            self.op_rows.append(start)
            self.op_columns.append(torch.tensor([names.index(op) for op in space.ops]))
            rows = list(range(start + 1, start + j))
            self.skip_rows.append(torch.tensor(rows, dtype=torch.long))
        first = space.layer_start(2) + 1  # layer 2's skip from the stem: the first bit
        self.one_column = params.choices[first].index(one) if space.n_layers > 1 else 0

    def op_weights(self, table: torch.Tensor) -> MacroWeights:
        """The supernet's weights for a table (gradients flow back into it)."""
        ops = tuple(table[row, cols] for row, cols in zip(self.op_rows, self.op_columns,
                                                          strict=True))
        skips = tuple(table[rows, self.one_column] for rows in self.skip_rows)
        return MacroWeights(ops, skips)

    def derive_top2(self) -> MacroArch:
        """The mode of every decision (module docstring: no top-2 rule on this space)."""
        return self.params.derive()
