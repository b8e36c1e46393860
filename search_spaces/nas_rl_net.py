"""The child network of a ``nas-rl`` architecture (Zoph & Le 2017), trained from scratch.

Each layer is a convolution (its own filter height, width, count and stride; 'same' padding)
followed by batch norm and ReLU. A layer with several inputs concatenates them along the
channels, smaller ones zero-padded to the largest height and width (the paper's rule); a layer
with none reads the image. The layers no later layer reads, and the last one, are each averaged
over space and concatenated for the linear classifier (averaging each before concatenating
spares padding them to one size first).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .nas_rl_arch import NasRlArch, loose_ends


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``x`` zero-padded (split evenly, the extra row or column at the bottom / right) to
    ``height`` x ``width``."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def concat_inputs(xs: list[torch.Tensor]) -> torch.Tensor:
    """Several layer outputs as one input: padded to the largest size, stacked on channels."""
    if len(xs) == 1:
        return xs[0]
    height = max(x.shape[-2] for x in xs)
    width = max(x.shape[-1] for x in xs)
    return torch.cat([pad_to(x, height, width) for x in xs], dim=1)


class NasRlNetwork(nn.Module):
    """A ``nas-rl`` architecture as a network; ``forward(x)`` returns the logits."""

    def __init__(self, arch: NasRlArch, num_classes: int, in_channels: int):
        super().__init__()
        self.arch = tuple(arch)
        self.convs = nn.ModuleList()
        for layer in self.arch:
            c_in = (sum(self.arch[j].filters for j in layer.inputs) if layer.inputs
                    else in_channels)
            self.convs.append(nn.Sequential(
                nn.Conv2d(c_in, layer.filters, (layer.height, layer.width), stride=layer.stride,
                          padding=(layer.height // 2, layer.width // 2), bias=False),
                nn.BatchNorm2d(layer.filters),
                nn.ReLU(inplace=False),
            ))
        self.outputs = loose_ends(self.arch)
        self.classifier = nn.Linear(sum(self.arch[i].filters for i in self.outputs), num_classes)
        self.drop_path_prob = 0.0  # nao train ramps it; a plain stack of layers has no paths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states: list[torch.Tensor] = []
        for layer, conv in zip(self.arch, self.convs, strict=True):
            h = concat_inputs([states[j] for j in layer.inputs]) if layer.inputs else x
            states.append(conv(h))
        pooled = [torch.flatten(F.adaptive_avg_pool2d(states[i], 1), 1) for i in self.outputs]
        return self.classifier(torch.cat(pooled, dim=1))

    def num_params(self, include_auxiliary: bool = False) -> int:
        """Trainable parameter count (there is no auxiliary head)."""
        return sum(p.numel() for p in self.parameters())
