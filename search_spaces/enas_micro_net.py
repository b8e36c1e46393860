"""Networks of the enas-micro space: the weight-sharing supernet and a single child.

Both are the same stack, stem -> N normal cells -> reduction -> N normal -> reduction -> N normal
-> global pool -> linear, and their modules have the same names: the supernet holds every op of
every branch, a child only its own. A child's weights are therefore a subset of the supernet's
state dict, key for key, which is all :meth:`ChildNetwork.load_from_supernet` needs.

Cell details (ENAS): each cell input is first brought to the cell's channel count (a ReLU-1x1
conv-BN, or a factorized reduce when it is twice the size). A reduction cell doubles the channels
and halves both cell inputs with factorized reduces, then runs its ops at stride 1, so every op
has one set of weights whichever input it reads. The nodes no later node uses are the output:
concatenated, then ReLU-1x1 conv-BN back to the cell's channel count, written as a sum of one
1x1 conv per node so that the supernet can skip the nodes a child does not output.

The supernet runs a discrete architecture (ENAS, NAO-WS: one op per branch) or, given
:class:`OpWeights`, the mixed-op path of the relaxed methods: every branch reads the input the
architecture names and returns the weighted sum of all its ops' outputs (softmax weights as
DARTS, a one-hot or Gumbel sample as SNAS). One-hot weights compute what the discrete path does.
With input weights as well (``OpWeights.normal_inputs`` / ``reduce_inputs``) the input choice is
relaxed too: a branch's ops read the weighted sum of the states it may read (its ops are shared by
every input, so one pass per op, as cheap as the op-mixed path), and each node's output conv is
weighted by the probability, under those weights, that no later branch reads it (the
discrete path's "unused nodes are the output", which one-hot weights give back exactly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nao.errors import ConfigError

from .cnn_ops import OPS as OP_BUILDERS
from .cnn_ops import AuxiliaryHead, FactorizedReduce, ReLUConvBN, batch_norm, drop_path, make_op
from .enas_micro_arch import (
    N_CELL_INPUTS,
    N_NODES,
    OPS,
    MicroArch,
    Node,
    branches,
    unused_nodes,
    used_cell_inputs,
)
from .sums import add_all

if _unbuilt := [op for op in OPS if op not in OP_BUILDERS]:  # checked once, on import
    raise ImportError(f"enas-micro ops without a builder in search_spaces.cnn_ops.OPS: {_unbuilt}")

STEM_KERNEL = 3
STEM_STRIDES = (1, 2)
# Weights and activations in channels-last layout: training on CPU measured 1.6x faster
# (torch 2.14, depthwise convolutions dominate); results are the same either way.
CHANNELS_LAST = True
N_STAGES = 3  # stages of equal resolution; a reduction cell between each two
N_INPUTS = N_CELL_INPUTS + N_NODES - 1  # the inputs a branch may read, of the last node


CellContents = tuple[Sequence[Iterable[str]], Iterable[int], Iterable[int]]


class OpWeights(NamedTuple):
    """Weights over the ops (in ``OPS`` order) of every branch: ``normal`` and ``reduce`` are
    ``(N_NODES, 2, len(OPS))`` tensors, one weight vector per node and branch; each branch
    reads the input ``arch`` names, unless ``normal_inputs`` / ``reduce_inputs`` are given:
    ``(N_NODES, 2, N_INPUTS)`` weights over the inputs 0..N_INPUTS-1 (node ``i`` may read
    0..i+1; the weights it may not read must be 0), and ``arch``'s inputs are not read.
    Gradients flow back into all the weights."""

    arch: MicroArch
    normal: torch.Tensor
    reduce: torch.Tensor
    normal_inputs: torch.Tensor | None = None
    reduce_inputs: torch.Tensor | None = None

    @classmethod
    def one_hot(cls, arch: MicroArch, inputs: bool = False) -> OpWeights:
        """Weight 1 on each branch's op in ``arch``, 0 on the others; with ``inputs``, the same
        for each branch's input (the input-mixed path, then computing the discrete one)."""
        def cell_weights(cell: tuple[Node, ...]) -> torch.Tensor:
            index = torch.tensor([[OPS.index(op) for _inp, op in branches(node)] for node in cell])
            return F.one_hot(index, len(OPS)).float()

        def cell_inputs(cell: tuple[Node, ...]) -> torch.Tensor:
            index = torch.tensor([[inp for inp, _op in branches(node)] for node in cell])
            return F.one_hot(index, N_INPUTS).float()

        if not inputs:
            return cls(arch, cell_weights(arch.normal), cell_weights(arch.reduce))
        return cls(arch, cell_weights(arch.normal), cell_weights(arch.reduce),
                   cell_inputs(arch.normal), cell_inputs(arch.reduce))

    def to(self, device: torch.device) -> OpWeights:
        """The weights on ``device``; gradients flow back to where they were made (the
        relaxed methods keep their small ``alpha`` table on the CPU)."""
        return OpWeights(self.arch, *(None if w is None else w.to(device) for w in self[1:]))

    @classmethod
    def uniform(cls, arch: MicroArch) -> OpWeights:
        """The same weight on every op (a freshly initialized DARTS)."""
        weights = torch.full((len(arch.normal), 2, len(OPS)), 1.0 / len(OPS))
        return cls(arch, weights, weights.clone())


def mixed_op(ops: nn.ModuleDict, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_k weights[k] * op_k(x)`` over a branch's ops, in their order (``OPS`` for the
    supernet)."""
    if weights.shape != (len(ops),):
        raise ConfigError(f"a branch holds {len(ops)} ops, got {tuple(weights.shape)} weights; "
                          "give one weight per op (only the supernet holds every op)")
    return add_all(w * op(x) for w, op in zip(weights, ops.values(), strict=True))


def mixed_input(states: Sequence[torch.Tensor | None], weights: torch.Tensor,
                node: int) -> torch.Tensor:
    """``sum_j weights[j] * states[j]`` over the inputs node ``node`` may read (0..node+1);
    inputs of weight exactly 0 are skipped (a hard sample reads only its own)."""
    if weights.shape != (N_INPUTS,):
        raise ConfigError(f"a branch chooses among {N_INPUTS} inputs, got "
                          f"{tuple(weights.shape)} input weights; give one weight per input "
                          "(0 for the inputs a node may not read)")
    readable = N_CELL_INPUTS + node
    values = weights.detach().tolist()
    if any(values[readable:]):
        raise ConfigError(f"node {node} may read inputs 0..{readable - 1}, got a non-zero weight "
                          "on a later one; give the inputs it may not read weight 0")
    terms = [weights[j] * states[j] for j in range(readable) if values[j] != 0]
    if not terms:
        raise ConfigError(f"node {node}: every input weight is 0; give the branch an input")
    return add_all(terms)


def output_weights(cell_inputs: torch.Tensor) -> torch.Tensor:
    """Per node, the probability that no later branch reads it (it is then a cell output):
    ``prod (1 - w)`` over the later branches' weights on it. One-hot weights give 1 for the
    nodes the discrete path outputs and 0 for the others."""
    out = []
    for i in range(N_NODES):
        if N_CELL_INPUTS + i >= N_INPUTS:  # the last node: nothing may read it
            out.append(cell_inputs.new_ones(()))
            continue
        reads = cell_inputs[i + 1:, :, N_CELL_INPUTS + i].reshape(-1)
        out.append(torch.prod(1 - reads))
    return torch.stack(out)


def cell_layout(layers: int) -> tuple[bool, ...]:
    """``True`` for a reduction cell: ``layers`` normal cells per stage, reductions between."""
    if layers < 1:
        raise ConfigError(f"layers (normal cells per stage) must be at least 1, got {layers}")
    layout: list[bool] = []
    for stage in range(N_STAGES):
        layout += [False] * layers
        if stage < N_STAGES - 1:
            layout.append(True)
    return tuple(layout)


class Cell(nn.Module):
    """One cell; ``ops[j]`` are the ops branch ``j`` (node ``j // 2``) holds, ``inputs`` the cell
    inputs and ``outputs`` the nodes it has weights for. The architecture comes with each call."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 reduction_prev: bool, ops: Sequence[Iterable[str]], inputs: Iterable[int],
                 outputs: Iterable[int], affine: bool):
        super().__init__()
        self.reduction = reduction
        inputs = set(inputs)
        pre0 = FactorizedReduce if reduction or reduction_prev else ReLUConvBN
        pre1 = FactorizedReduce if reduction else ReLUConvBN
        self.pre0 = pre0(c_prev_prev, channels, affine=affine) if 0 in inputs else None
        self.pre1 = pre1(c_prev, channels, affine=affine) if 1 in inputs else None
        self.branches = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, channels, affine) for op in branch_ops})
            for branch_ops in ops
        )
        self.out_convs = nn.ModuleDict({
            str(i): nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False))
            for i in outputs
        })
        self.out_bn = batch_norm(channels, affine)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cell: tuple[Node, ...],
                drop_prob: float = 0.0, weights: torch.Tensor | None = None,
                input_weights: torch.Tensor | None = None) -> torch.Tensor:
        states = self.node_states(s0, s1, cell, drop_prob, weights, input_weights)
        if input_weights is None:
            out = add_all(self.out_convs[str(i)](states[N_CELL_INPUTS + i])
                          for i in unused_nodes(cell))
        else:
            scales = output_weights(input_weights)
            terms = [scales[i] * self.out_convs[str(i)](states[N_CELL_INPUTS + i])
                     for i, value in enumerate(scales.detach().tolist()) if value != 0]
            out = add_all(terms)
        return self.out_bn(out)

    def node_states(self, s0: torch.Tensor, s1: torch.Tensor, cell: tuple[Node, ...],
                    drop_prob: float = 0.0, weights: torch.Tensor | None = None,
                    input_weights: torch.Tensor | None = None) -> list[torch.Tensor | None]:
        """The two prepared cell inputs (``None`` when unread) and every node's output.
        ``weights`` (``(N_NODES, 2, ops)``) mixes each branch's ops instead of running the
        architecture's one op (drop-path is for the discrete path only); ``input_weights``
        (``(N_NODES, 2, N_INPUTS)``, with ``weights`` only) mixes each branch's input instead
        of reading the architecture's one."""
        if input_weights is not None and weights is None:
            raise ConfigError("input weights come with op weights; give both (OpWeights)")
        pre = (self.pre0, self.pre1)
        raw = (s0, s1)
        if input_weights is None:
            used = used_cell_inputs(cell)
        else:
            read = input_weights[:, :, :N_CELL_INPUTS].detach().reshape(-1, N_CELL_INPUTS)
            used = tuple(k for k in range(N_CELL_INPUTS) if bool(read[:, k].any()))
        states: list[torch.Tensor | None] = [
            pre[k](raw[k]) if k in used else None for k in range(N_CELL_INPUTS)
        ]
        for i, node in enumerate(cell):
            total = None
            for b, (inp, op) in enumerate(branches(node)):
                if input_weights is not None:
                    x = mixed_input(states, input_weights[i, b], i)
                    out = mixed_op(self.branches[2 * i + b], x, weights[i, b])
                elif weights is not None:
                    out = mixed_op(self.branches[2 * i + b], states[inp], weights[i, b])
                else:
                    out = self.branches[2 * i + b][op](states[inp])
                    if self.training and op != "identity":
                        out = drop_path(out, drop_prob)
                total = out if total is None else total + out
            states.append(total)
        return states


class _MicroNetwork(nn.Module):
    """The stack shared by supernet and child; subclasses say which ops each cell holds."""

    def __init__(self, channels: int, num_classes: int, layers: int, in_channels: int,
                 affine: bool, auxiliary: bool, stem_stride: int = 1):
        super().__init__()
        if stem_stride not in STEM_STRIDES:
            raise ConfigError(f"stem stride must be one of {STEM_STRIDES}, got {stem_stride}")
        self.config = {"channels": channels, "num_classes": num_classes, "layers": layers,
                       "in_channels": in_channels, "stem_stride": stem_stride}
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, STEM_KERNEL, stride=stem_stride,
                      padding=STEM_KERNEL // 2, bias=False),
            batch_norm(channels, affine),
        )
        layout = cell_layout(layers)
        self.cells = nn.ModuleList()
        c_pp = c_p = c = channels
        reduction_prev = False
        self.aux_index = len(layout) - 1 - layers  # the second reduction cell: 2/3 depth
        aux_channels = channels
        for k, reduction in enumerate(layout):
            if reduction:
                c *= 2
            ops, inputs, outputs = self._cell_contents(reduction)
            self.cells.append(Cell(c_pp, c_p, c, reduction, reduction_prev, ops, inputs,
                                   outputs, affine))
            c_pp, c_p, reduction_prev = c_p, c, reduction
            if k == self.aux_index:
                aux_channels = c
        self.auxiliary = AuxiliaryHead(aux_channels, num_classes) if auxiliary else None
        self.classifier = nn.Linear(c_p, num_classes)
        if CHANNELS_LAST:
            self.to(memory_format=torch.channels_last)

    def _cell_contents(self, reduction: bool) -> CellContents:
        """(ops per branch, cell inputs used, output nodes) of a cell."""
        raise NotImplementedError

    def _forward(self, x: torch.Tensor, choice: MicroArch | OpWeights, drop_prob: float = 0.0):
        arch, weights = ((choice.arch, choice.to(x.device)) if isinstance(choice, OpWeights)
                         else (choice, None))
        if CHANNELS_LAST:
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        aux_logits = None
        for k, cell in enumerate(self.cells):
            cell_arch = arch.reduce if cell.reduction else arch.normal
            cell_weights = cell_inputs = None
            if weights is not None:
                cell_weights = weights.reduce if cell.reduction else weights.normal
                cell_inputs = weights.reduce_inputs if cell.reduction else weights.normal_inputs
            s0, s1 = s1, cell(s0, s1, cell_arch, drop_prob, cell_weights, cell_inputs)
            if k == self.aux_index and self.auxiliary is not None and self.training:
                aux_logits = self.auxiliary(s1)
        pooled = torch.flatten(F.adaptive_avg_pool2d(F.relu(s1), 1), 1)
        return self.classifier(pooled), aux_logits

    def num_params(self, include_auxiliary: bool = False) -> int:
        """Trainable parameter count; the auxiliary head is left out by default (as reported
        in the papers, since it is dropped after training)."""
        return sum(
            p.numel() for name, p in self.named_parameters()
            if include_auxiliary or not name.startswith("auxiliary.")
        )


class Supernet(_MicroNetwork):
    """Every op of every branch of every cell, shared by all children (ENAS). BatchNorm is
    non-affine; ``forward(x, arch)`` runs the child ``arch``, touching only its weights;
    ``forward(x, OpWeights(...))`` runs the mixed-op path (DARTS, SNAS)."""

    def __init__(self, channels: int, num_classes: int, layers: int, in_channels: int,
                 stem_stride: int = 1):
        super().__init__(channels, num_classes, layers, in_channels, affine=False,
                         auxiliary=False, stem_stride=stem_stride)

    def _cell_contents(self, reduction: bool) -> CellContents:
        return [OPS] * (2 * N_NODES), range(N_CELL_INPUTS), range(N_NODES)

    def forward(self, x: torch.Tensor, choice: MicroArch | OpWeights) -> torch.Tensor:
        return self._forward(x, choice)[0]


class ChildNetwork(_MicroNetwork):
    """One architecture with only its own ops (affine BatchNorm), for final training.

    ``forward(x)`` gives logits, or ``(logits, aux_logits)`` when built with ``auxiliary`` and in
    training mode. ``drop_path_prob`` may be changed between epochs (NAO ramps it up).
    ``stem_stride`` 2 halves the input before the first cell (as ImageNet stems do): on a CPU the
    cells then run on a quarter of the pixels, about twice as fast on 28x28 images.
    """

    def __init__(self, arch: MicroArch, channels: int, num_classes: int, layers: int,
                 in_channels: int, auxiliary: bool = False, drop_path: float = 0.0,
                 stem_stride: int = 1):
        self.arch = arch
        super().__init__(channels, num_classes, layers, in_channels, affine=True,
                         auxiliary=auxiliary, stem_stride=stem_stride)
        self.drop_path_prob = drop_path

    def _cell_contents(self, reduction: bool) -> CellContents:
        cell = self.arch.reduce if reduction else self.arch.normal
        ops = [[op] for node in cell for _inp, op in branches(node)]
        return ops, used_cell_inputs(cell), unused_nodes(cell)

    def forward(self, x: torch.Tensor):
        logits, aux_logits = self._forward(x, self.arch, self.drop_path_prob)
        if self.auxiliary is not None and self.training:
            return logits, aux_logits
        return logits

    @torch.no_grad()
    def load_from_supernet(self, supernet: Supernet) -> ChildNetwork:
        """Copy this child's shared weights (and BatchNorm statistics) out of ``supernet``.

        Affine BatchNorm parameters, which the supernet lacks, are reset to weight 1 and bias 0
        so that the child computes exactly what ``supernet(x, self.arch)`` does; the auxiliary
        head keeps its own weights.
        """
        if supernet.config != self.config:
            raise ConfigError(
                f"supernet was built with {supernet.config}, this child with {self.config}; "
                "build both with the same channels, num_classes, layers and in_channels"
            )
        source = supernet.state_dict()
        for name, tensor in self.state_dict().items():
            if name in source:
                if source[name].shape != tensor.shape:
                    raise ConfigError(f"shape of {name} differs: supernet "
                                      f"{tuple(source[name].shape)}, child {tuple(tensor.shape)}")
                tensor.copy_(source[name])
            elif not name.startswith("auxiliary."):
                if not name.endswith((".weight", ".bias")) or not self._is_batch_norm(name):
                    raise ConfigError(f"the supernet has no weights for {name}")
                tensor.fill_(1.0 if name.endswith(".weight") else 0.0)
        return self

    def _is_batch_norm(self, param_name: str) -> bool:
        module = self.get_submodule(param_name.rsplit(".", 1)[0])
        return isinstance(module, nn.BatchNorm2d)
