"""Convolutional building blocks of the cell spaces, in the ReLU-conv-BN order of ENAS and DARTS.

``affine`` is the BatchNorm flag: a weight-sharing supernet uses ``affine=False`` (as ENAS does,
so no per-op scale learns to favour one child) and a child trained on its own uses ``True``. A
fresh affine BatchNorm (weight 1, bias 0) computes the same as a non-affine one, which is what
lets a child start exactly where the supernet is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

POOL_SIZE = 3
COUNTS_CACHED = 64  # window-count maps kept (one per map size, device and dtype)


def batch_norm(channels: int, affine: bool) -> nn.BatchNorm2d:
    return UncountedBatchNorm2d(channels, affine=affine)


class UncountedBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` without its count of training batches.

    The count is read only by a cumulative average (``momentum=None``), never by the cells'
    fixed momentum, and counting cost an op per BatchNorm per step: on a GPU, where a cell's
    step is bound by kernel launches, about one launch in eleven. A state dict that holds the count
    (a checkpoint written before) still loads; the count is dropped."""

    def __init__(self, num_features: int, affine: bool = True):
        super().__init__(num_features, affine=affine)
        self.register_buffer("num_batches_tracked", None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        # nn.Module's, not _NormBase's: that one adds a count to a state dict without one
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)


class ReLUConvBN(nn.Sequential):
    """ReLU, k x k convolution, BatchNorm: the 1x1 version matches channel counts."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, stride: int = 1,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            batch_norm(c_out, affine),
        )


class SepConv(nn.Sequential):
    """Depthwise-separable convolution applied twice (DARTS and NAO; ENAS applies it once):
    each time ReLU, depthwise k x k, pointwise 1x1, BatchNorm. Spatial size is kept."""

    def __init__(self, channels: int, kernel_size: int, affine: bool = True, repeats: int = 2):
        layers: list[nn.Module] = []
        for _ in range(repeats):
            layers += [
                nn.ReLU(),
                nn.Conv2d(channels, channels, kernel_size, 1, kernel_size // 2, groups=channels,
                          bias=False),
                nn.Conv2d(channels, channels, 1, bias=False),
                batch_norm(channels, affine),
            ]
        super().__init__(*layers)


class FactorizedReduce(nn.Module):
    """Halve height and width without discarding pixels: two stride-2 1x1 convolutions, the
    second on the input shifted by one pixel, concatenated. Odd sizes round up (both paths
    see a padded input), unlike the usual version that fails on 7x7 maps.

    A stride-2 1x1 convolution is written as a 1x1 convolution of every second pixel: the same
    result and weights, and it avoids a oneDNN crash (heap corruption) that torch 2.14 hits on
    some CPUs for strided 1x1 channels-last convolutions with fewer than 8 input channels."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, bias=False)
        self.bn = batch_norm(c_out, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]),
                                  self.conv_2(shifted[:, :, ::2, ::2])], dim=1))


class MaxPool(nn.Module):
    """k x k max pooling, stride 1, same size. On CPU it runs in channels-last layout, where
    PyTorch's kernel is 3-5x faster forward+backward (measured with torch 2.14 on 28x28 and
    7x7 maps); the result is the same."""

    def __init__(self, kernel_size: int = POOL_SIZE):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if x.device.type != "cpu" or x.is_contiguous(memory_format=torch.channels_last):
            return F.max_pool2d(x, k, 1, k // 2)
        x = x.contiguous(memory_format=torch.channels_last)
        return F.max_pool2d(x, k, 1, k // 2).contiguous()


class AvgPool(nn.Module):
    """k x k average over the pixels inside the image (``count_include_pad=False``), stride 1.

    On the CPU a separable box sum of shifted slices divided by the per-pixel count, with its
    backward written out (:class:`_BoxAverage`): about 2x faster forward+backward than autograd
    through the slices (which allocated and zero-filled a padded gradient per slice) and than
    ``avg_pool2d``'s kernel; the floats are autograd's, bit for bit. On a GPU, where a cell's
    step is bound by kernel launches, ``avg_pool2d``: a kernel forward and one backward instead
    of thirteen. ``box_sum`` forces one or the other (``None``: by the input's device).
    """

    def __init__(self, kernel_size: int = POOL_SIZE, box_sum: bool | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.box_sum = box_sum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if not (x.device.type == "cpu" if self.box_sum is None else self.box_sum):
            return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)
        h, w = x.shape[-2:]
        return _BoxAverage.apply(x, k, _window_counts(h, w, k, x.device, x.dtype))


class _BoxAverage(torch.autograd.Function):
    """``box_sum(pad(x)) / counts`` and its adjoint. The box filter is symmetric, so the input
    gradient is the box sum of ``pad(grad / counts)``, taken over height first, then width
    (the reverse of the forward), each sum in the order autograd's accumulation of the slice
    gradients would give; that order is what keeps the gradient bit-identical to it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, counts: torch.Tensor) -> torch.Tensor:
        pad = k // 2
        h, w = x.shape[-2:]
        padded = F.pad(x, (pad, pad, pad, pad))
        ctx.k = k
        ctx.save_for_backward(counts)
        return _shifted_sum(_shifted_sum(padded, k, -1, w), k, -2, h) / counts

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (counts,) = ctx.saved_tensors
        k = ctx.k
        pad = k // 2
        h, w = grad.shape[-2:]
        padded = F.pad(grad / counts, (pad, pad, pad, pad))
        # in the default layout, as autograd's slice gradients were: a convolution's backward
        # computes other floats on a channels-last gradient, and this keeps the search's own
        return _shifted_sum(_shifted_sum(padded, k, -2, h), k, -1, w).contiguous(), None, None


def _shifted_sum(t: torch.Tensor, k: int, dim: int, n: int) -> torch.Tensor:
    """``t[0:n] + t[1:n+1] + ... + t[k-1:k-1+n]`` along ``dim``, added left to right."""
    total = t.narrow(dim, 0, n)
    for j in range(1, k):
        total = total + t.narrow(dim, j, n)
    return total


@functools.lru_cache(maxsize=COUNTS_CACHED)
def _window_counts(h: int, w: int, k: int, device: torch.device,
                   dtype: torch.dtype) -> torch.Tensor:
    """``(h, w)``: how many pixels of the k x k window around each pixel lie inside the image.

    Made once per map size, device and dtype: built per call it was ~15 tiny ops (arange,
    clamps, a product) in every pooling op, about a seventh of a supernet step's ops and, on a GPU,
    as many kernel launches. Made without autograd (never saved as an inference tensor or with
    a graph); the pooling only reads it."""
    with torch.inference_mode(False), torch.no_grad():
        return _inside_count(h, k, device, dtype)[:, None] * _inside_count(w, k, device, dtype)


def _inside_count(size: int, k: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """How many of the k window positions around each index fall inside ``0..size-1``."""
    idx = torch.arange(size, device=device)
    low = torch.clamp(idx - k // 2, min=0)
    high = torch.clamp(idx + k // 2, max=size - 1)
    return (high - low + 1).to(dtype)


class FactorizedConv(nn.Sequential):
    """ReLU, 1 x k then k x 1 convolution, BatchNorm (NASNet's "1x7 then 7x1"): a k x k
    receptive field for 2k weights per channel pair; nothing between the two convolutions."""

    def __init__(self, channels: int, kernel_size: int, affine: bool = True):
        pad = kernel_size // 2
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(channels, channels, (1, kernel_size), 1, (0, pad), bias=False),
            nn.Conv2d(channels, channels, (kernel_size, 1), 1, (pad, 0), bias=False),
            batch_norm(channels, affine),
        )


class DilSepConv(nn.Sequential):
    """Dilated depthwise-separable convolution, once (DARTS's dil_conv): ReLU, depthwise k x k
    with dilation 2, pointwise 1x1, BatchNorm; a 5x5 field for a 3x3 kernel, size kept."""

    def __init__(self, channels: int, kernel_size: int, affine: bool = True, dilation: int = 2):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size, 1, dilation * (kernel_size // 2),
                      dilation=dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            batch_norm(channels, affine),
        )


class Pool2x2(nn.Module):
    """2 x 2 max or average pooling at stride 1 that keeps the size: an even window has no
    centre, so each pixel pools itself with its right, lower and lower-right neighbours
    (the last row and column pool over the pixels inside the image only)."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"pool mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, 1)
        h, w = x.shape[-2:]
        total = F.avg_pool2d(F.pad(x, (0, 1, 0, 1)), 2, 1) * 4
        rows = torch.full((h,), 2.0, dtype=x.dtype, device=x.device)
        cols = torch.full((w,), 2.0, dtype=x.dtype, device=x.device)
        rows[-1] = cols[-1] = 1.0
        return total / (rows[:, None] * cols[None, :])


OpBuilder = Callable[[int, bool], nn.Module]  # (channels, affine) -> module
# the cell ops by name (DARTS's OPS); every one keeps channels and spatial size
OPS: dict[str, OpBuilder] = {
    "sep_conv_3x3": lambda channels, affine: SepConv(channels, 3, affine),
    "sep_conv_5x5": lambda channels, affine: SepConv(channels, 5, affine),
    "avg_pool_3x3": lambda channels, affine: AvgPool(POOL_SIZE),
    "max_pool_3x3": lambda channels, affine: MaxPool(POOL_SIZE),
    "identity": lambda channels, affine: nn.Identity(),
    # the further ops of NAO's space without weight sharing (nao-cnn)
    "conv_3x3": lambda channels, affine: ReLUConvBN(channels, channels, 3, affine=affine),
    "conv_1x3_3x1": lambda channels, affine: FactorizedConv(channels, 3, affine),
    "conv_1x7_7x1": lambda channels, affine: FactorizedConv(channels, 7, affine),
    "max_pool_2x2": lambda channels, affine: Pool2x2("max"),
    "avg_pool_2x2": lambda channels, affine: Pool2x2("avg"),
    "dil_sep_conv_3x3": lambda channels, affine: DilSepConv(channels, 3, affine),
}


def make_op(name: str, channels: int, affine: bool) -> nn.Module:
    """The op ``name`` of :data:`OPS` for ``channels`` channels."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name](channels, affine)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability ``prob``, rescaling the rest
    (stochastic drop-connect, NAO's final-training regulariser)."""
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = x.new_empty(x.size(0), 1, 1, 1).bernoulli_(keep)
    return x * mask / keep


class AuxiliaryHead(nn.Module):
    """Extra classifier at 2/3 depth for final training; pools to 2x2 so any input size works."""

    def __init__(self, channels: int, num_classes: int, hidden: int = 128, pooled: int = 2):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(pooled),
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(hidden * pooled * pooled, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
