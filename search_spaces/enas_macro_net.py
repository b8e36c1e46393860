"""Networks of the enas-macro space: the weight-sharing supernet and a single child.

Both are one stack, stem (3x3 conv, BN) -> ``L`` layers -> ReLU, global average pool -> linear,
with the same module names: the supernet holds every op of the space at every layer and every
skip and reduction path, a child only its own, so a child's weights are a subset of the
supernet's state dict, key for key (:meth:`MacroChild.load_from_supernet`).

Layer ``j`` (ENAS ``general_child``): its op runs on node ``j - 1``; ops keep channels and size
(3x3 / 5x5 convolution as ReLU-conv-BN, separable convolution as ENAS's single ReLU-depthwise-
pointwise-BN, 3x3 average and max pooling at stride 1). A layer with skip connections
concatenates the op's output with its skip sources and applies ReLU, 1x1 conv, BN (ENAS's fixed
child), written as a sum of one 1x1 conv per source so that the supernet runs only the sources a
child picks; a layer without skips outputs its op's result. After the reduction layers every node
a later layer reads is brought to half the size and twice the channels by a factorized reduce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nao.errors import ConfigError

from .cnn_ops import (
    POOL_SIZE,
    AuxiliaryHead,
    AvgPool,
    FactorizedReduce,
    MaxPool,
    ReLUConvBN,
    SepConv,
    batch_norm,
    drop_path,
)
from .enas_macro_arch import OPS, MacroArch, inputs_of, read_after, reduction_points, stage_of
from .sums import add_all

STEM_KERNEL = 3
STEM_STRIDES = (1, 2)
CHANNELS_LAST = True  # as enas-micro: faster on CPU, same results
OP_SOURCE = "op"  # the key of the 1x1 conv that takes a layer's op output

OpBuilder = Callable[[int, bool], nn.Module]  # (channels, affine) -> module
MACRO_OPS: dict[str, OpBuilder] = {
    "conv3": lambda c, affine: ReLUConvBN(c, c, 3, affine=affine),
    "sep3": lambda c, affine: SepConv(c, 3, affine, repeats=1),
    "conv5": lambda c, affine: ReLUConvBN(c, c, 5, affine=affine),
    "sep5": lambda c, affine: SepConv(c, 5, affine, repeats=1),
    "avg": lambda c, affine: AvgPool(POOL_SIZE),
    "max": lambda c, affine: MaxPool(POOL_SIZE),
}
if _unbuilt := [op for op in OPS if op not in MACRO_OPS]:  # checked once, on import
    raise ImportError(f"enas-macro ops without a builder: {_unbuilt}")


class MacroWeights(NamedTuple):
    """The relaxed choice of every layer (the mixed-op path of DARTS and SNAS): ``ops[j - 1]``
    weights layer ``j``'s ops (the supernet's op order), ``skips[j - 1]`` its skip sources
    ``0 .. j - 2`` (each the weight of its bit 1). One-hot weights compute exactly the
    discrete architecture they name; gradients flow back into all of them."""

    ops: tuple[torch.Tensor, ...]
    skips: tuple[torch.Tensor, ...]

    def to(self, device: torch.device) -> MacroWeights:
        """The weights on ``device`` (the relaxed methods keep ``alpha`` on the CPU)."""
        return MacroWeights(tuple(w.to(device) for w in self.ops),
                            tuple(w.to(device) for w in self.skips))

    @classmethod
    def one_hot(cls, arch: MacroArch, op_names: Sequence[str]) -> MacroWeights:
        """Weight 1 on each layer's op and on its skip bits set, 0 elsewhere."""
        ops = tuple(F.one_hot(torch.tensor(list(op_names).index(layer.op)),
                              len(op_names)).float() for layer in arch.layers)
        skips = tuple(torch.tensor(layer.skips, dtype=torch.float32) for layer in arch.layers)
        return cls(ops, skips)


class MacroLayer(nn.Module):
    """One layer with weights for ``ops`` and for the skip sources ``sources`` (node numbers);
    the layer's choice comes with each call."""

    def __init__(self, channels: int, ops: Sequence[str], sources: Sequence[int], affine: bool):
        super().__init__()
        self.ops = nn.ModuleDict({op: MACRO_OPS[op](channels, affine) for op in ops})
        self.combine = nn.ModuleDict({
            key: nn.Conv2d(channels, channels, 1, bias=False)
            for key in ([OP_SOURCE] + [str(i) for i in sources] if sources else [])
        })
        self.bn = batch_norm(channels, affine) if sources else None

    def forward(self, x: torch.Tensor, states: Sequence[torch.Tensor | None], op: str,
                skips: Sequence[int], drop_prob: float = 0.0) -> torch.Tensor:
        out = self.ops[op](x)
        if not skips:
            return out
        drop_prob = drop_prob if self.training else 0.0
        total = self.combine[OP_SOURCE](F.relu(out))
        for i in skips:
            total = total + self.combine[str(i)](F.relu(drop_path(states[i], drop_prob)))
        return self.bn(total)

    def mixed(self, x: torch.Tensor, states: Sequence[torch.Tensor], op_weights: torch.Tensor,
              skip_weights: torch.Tensor) -> torch.Tensor:
        """The relaxed layer: the ops' outputs weighted by ``op_weights``; each skip source's
        path weighted by its ``skip_weights``; and the layer's two forms (its op's output alone
        when no skip is taken, the combined and normalised sum otherwise) mixed by the weight
        of taking none, the product of ``1 - skip_weights``."""
        out = add_all(w * op(x) for w, op in zip(op_weights, self.ops.values(), strict=True))
        if not self.combine:
            return out
        total = self.combine[OP_SOURCE](F.relu(out))
        for i, w in enumerate(skip_weights):
            total = total + w * self.combine[str(i)](F.relu(states[i]))
        none = torch.prod(1 - skip_weights)
        return none * out + (1 - none) * self.bn(total)


class _MacroNetwork(nn.Module):
    """The stack shared by supernet and child; subclasses say what each layer holds."""

    def __init__(self, n_layers: int, channels: int, num_classes: int, in_channels: int,
                 affine: bool, auxiliary: bool, stem_stride: int):
        super().__init__()
        if stem_stride not in STEM_STRIDES:
            raise ConfigError(f"stem stride must be one of {STEM_STRIDES}, got {stem_stride}")
        if channels < 1:
            raise ConfigError(f"channels must be at least 1, got {channels}")
        self.config = {"layers": n_layers, "channels": channels, "num_classes": num_classes,
                       "in_channels": in_channels, "stem_stride": stem_stride}
        self.n_layers = n_layers
        self.points = reduction_points(n_layers)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, STEM_KERNEL, stride=stem_stride,
                      padding=STEM_KERNEL // 2, bias=False),
            batch_norm(channels, affine))
        width = [channels * 2 ** stage_of(j, n_layers) for j in range(n_layers + 1)]
        self.layers = nn.ModuleList(
            MacroLayer(width[j], self._layer_ops(j), self._skip_sources(j), affine)
            for j in range(1, n_layers + 1))
        self.reductions = nn.ModuleDict({
            str(point): nn.ModuleDict({
                str(i): FactorizedReduce(width[point], 2 * width[point], affine=affine)
                for i in self._reduced_nodes(point)})
            for point in self.points})
        # the auxiliary head (final training) reads the node at 2/3 depth, as enas-micro's
        self.aux_node = max(1, 2 * n_layers // 3)
        self.auxiliary = AuxiliaryHead(width[self.aux_node], num_classes) if auxiliary else None
        self.classifier = nn.Linear(width[n_layers], num_classes)
        if CHANNELS_LAST:
            self.to(memory_format=torch.channels_last)

    def _layer_ops(self, j: int) -> Sequence[str]:
        raise NotImplementedError

    def _skip_sources(self, j: int) -> Sequence[int]:
        raise NotImplementedError

    def _reduced_nodes(self, point: int) -> Sequence[int]:
        raise NotImplementedError

    def _forward(self, x: torch.Tensor, arch: MacroArch, drop_prob: float = 0.0):
        if len(arch.layers) != self.n_layers:
            raise ConfigError(f"the network has {self.n_layers} layers, the architecture "
                              f"{len(arch.layers)}; build it from the same space")
        if CHANNELS_LAST:
            x = x.contiguous(memory_format=torch.channels_last)
        states: list[torch.Tensor | None] = [self.stem(x)]
        aux_logits = None
        for j, (module, layer) in enumerate(zip(self.layers, arch.layers, strict=True), 1):
            skips = inputs_of(arch, j)[1:]
            states.append(module(states[j - 1], states, layer.op, skips, drop_prob))
            if j == self.aux_node and self.auxiliary is not None and self.training:
                aux_logits = self.auxiliary(states[j])
            if j in self.points:
                reduce = self.reductions[str(j)]
                states = [reduce[str(i)](s) if read_after(arch, i, j) else None
                          for i, s in enumerate(states)]
        pooled = torch.flatten(F.adaptive_avg_pool2d(F.relu(states[-1]), 1), 1)
        return self.classifier(pooled), aux_logits

    def num_params(self, include_auxiliary: bool = False) -> int:
        """Trainable parameter count (the auxiliary head left out by default, as in the
        papers)."""
        return sum(p.numel() for name, p in self.named_parameters()
                   if include_auxiliary or not name.startswith("auxiliary."))


class MacroSupernet(_MacroNetwork):
    """Every op of ``ops`` at every layer, every skip and every reduction path, shared by all
    children (ENAS). BatchNorm is non-affine; ``forward(x, arch)`` runs the child ``arch``,
    touching only its weights."""

    def __init__(self, n_layers: int, ops: Sequence[str], channels: int, num_classes: int,
                 in_channels: int, stem_stride: int = 1):
        self.op_names = tuple(ops)
        super().__init__(n_layers, channels, num_classes, in_channels, affine=False,
                         auxiliary=False, stem_stride=stem_stride)

    def _layer_ops(self, j: int) -> Sequence[str]:
        return self.op_names

    def _skip_sources(self, j: int) -> Sequence[int]:
        return range(j - 1)

    def _reduced_nodes(self, point: int) -> Sequence[int]:
        return range(point + 1)

    def forward(self, x: torch.Tensor, choice: MacroArch | MacroWeights) -> torch.Tensor:
        """The logits of the child ``choice``, or of the relaxed network its
        :class:`MacroWeights` describe."""
        if isinstance(choice, MacroWeights):
            return self._forward_mixed(x, choice.to(x.device))
        return self._forward(x, choice)[0]

    def _forward_mixed(self, x: torch.Tensor, weights: MacroWeights) -> torch.Tensor:
        if len(weights.ops) != self.n_layers or len(weights.skips) != self.n_layers:
            raise ConfigError(f"the network has {self.n_layers} layers, the weights "
                              f"{len(weights.ops)}; build them from the same space")
        if CHANNELS_LAST:
            x = x.contiguous(memory_format=torch.channels_last)
        states = [self.stem(x)]
        for j, module in enumerate(self.layers, 1):
            states.append(module.mixed(states[j - 1], states, weights.ops[j - 1],
                                       weights.skips[j - 1]))
            if j in self.points:  # every node may be read later: reduce them all
                reduce = self.reductions[str(j)]
                states = [reduce[str(i)](s) for i, s in enumerate(states)]
        pooled = torch.flatten(F.adaptive_avg_pool2d(F.relu(states[-1]), 1), 1)
        return self.classifier(pooled)


class MacroChild(_MacroNetwork):
    """One architecture with only its own weights (affine BatchNorm), for final training.

    ``forward(x)`` gives logits, or ``(logits, aux_logits)`` when built with ``auxiliary`` and in
    training mode. ``drop_path_prob`` (changeable between epochs) drops whole skip connections
    per sample; the chain itself is never dropped.
    """

    def __init__(self, arch: MacroArch, channels: int, num_classes: int, in_channels: int,
                 auxiliary: bool = False, drop_path: float = 0.0, stem_stride: int = 1):
        self.arch = arch
        super().__init__(len(arch.layers), channels, num_classes, in_channels, affine=True,
                         auxiliary=auxiliary, stem_stride=stem_stride)
        self.drop_path_prob = drop_path

    def _layer_ops(self, j: int) -> Sequence[str]:
        return (self.arch.layers[j - 1].op,)

    def _skip_sources(self, j: int) -> Sequence[int]:
        return inputs_of(self.arch, j)[1:]

    def _reduced_nodes(self, point: int) -> Sequence[int]:
        return [i for i in range(point + 1) if read_after(self.arch, i, point)]

    def forward(self, x: torch.Tensor):
        logits, aux_logits = self._forward(x, self.arch, self.drop_path_prob)
        if self.auxiliary is not None and self.training:
            return logits, aux_logits
        return logits

    @torch.no_grad()
    def load_from_supernet(self, supernet: MacroSupernet) -> MacroChild:
        """Copy this child's shared weights (and BatchNorm statistics) out of ``supernet``;
        affine BatchNorm parameters, which the supernet lacks, are reset to weight 1 and bias 0,
        so the child computes what ``supernet(x, self.arch)`` does. The auxiliary head keeps its
        own weights."""
        if supernet.config != self.config:
            raise ConfigError(f"supernet was built with {supernet.config}, this child with "
                              f"{self.config}; build both with the same options")
        source = supernet.state_dict()
        for name, tensor in self.state_dict().items():
            if name.startswith("auxiliary."):
                continue
            if name in source:
                tensor.copy_(source[name])
            elif name.endswith((".weight", ".bias")) and isinstance(
                    self.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d):
                tensor.fill_(1.0 if name.endswith(".weight") else 0.0)
            else:
                raise ConfigError(f"the supernet has no weights for {name}; was it built "
                                  "with fewer ops?")
        return self
