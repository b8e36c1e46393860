"""The CPU-fast pooling ops compute exactly what PyTorch's reference pooling does; every op of
the ``OPS`` table builds a module that keeps the shape."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from search_spaces.cnn_ops import (
    OPS,
    AvgPool,
    FactorizedReduce,
    MaxPool,
    SepConv,
    UncountedBatchNorm2d,
    _window_counts,
    make_op,
)
from search_spaces.enas_micro_arch import OPS as ENAS_OPS


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 4, 7, 5), (1, 2, 1, 1)])
@pytest.mark.parametrize("k", [3, 5])
def test_pools_match_reference_values_and_gradients(shape, k):
    x = torch.randn(*shape, requires_grad=True)
    for ours, ref in (
        (AvgPool(k), lambda t: F.avg_pool2d(t, k, 1, k // 2, count_include_pad=False)),
        (MaxPool(k), lambda t: F.max_pool2d(t, k, 1, k // 2)),
    ):
        got, want = ours(x), ref(x)
        assert got.shape == x.shape and torch.allclose(got, want, atol=1e-6)
        g_got, = torch.autograd.grad(got.square().sum(), x)
        g_want, = torch.autograd.grad(want.square().sum(), x)
        assert torch.allclose(g_got, g_want, atol=1e-5)


def _box_average_through_autograd(x: torch.Tensor, k: int) -> torch.Tensor:
    """The average pool as shifted slices that autograd differentiates (what AvgPool computed
    before its backward was written out): the reference for the floats."""
    pad, (h, w) = k // 2, x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = sum(padded[..., :, j:j + w] for j in range(k))
    total = sum(rows[..., i:i + h, :] for i in range(k))
    inside = [(torch.arange(n) + pad).clamp(max=n - 1) - (torch.arange(n) - pad).clamp(min=0) + 1
              for n in (h, w)]
    return total / (inside[0][:, None] * inside[1][None, :]).to(x.dtype)


@pytest.mark.parametrize("shape", [(4, 16, 28, 28), (3, 5, 7, 9), (2, 3, 1, 2)])
@pytest.mark.parametrize("k", [3, 5])
def test_average_pool_gives_autograds_floats_bit_for_bit_in_its_layout(shape, k):
    torch.manual_seed(0)
    x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(*shape).contiguous(memory_format=torch.channels_last)  # as a net's
    x.requires_grad_()
    got, want = AvgPool(k)(x), _box_average_through_autograd(x, k)
    # autograd.grad hands over the gradient as computed (a leaf's .grad is restrided to it)
    (g_got,), (g_want,) = (torch.autograd.grad(y, x, upstream) for y in (got, want))
    assert torch.equal(got, want) and torch.equal(g_got, g_want)
    # the gradient leaves in the layout autograd's slices gave it (a convolution's backward
    # computes other floats on another layout, so the search would change)
    assert g_got.stride() == g_want.stride()


def test_average_pool_backward_is_the_adjoint_of_its_forward():
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(AvgPool(3), (x,))


def test_factorized_reduce_halves_odd_sizes_rounding_up():
    assert FactorizedReduce(4, 6)(torch.randn(2, 4, 7, 7)).shape == (2, 6, 4, 4)
    assert SepConv(4, 5)(torch.randn(2, 4, 7, 7)).shape == (2, 4, 7, 7)


@pytest.mark.parametrize("size", [7, 8])
def test_factorized_reduce_equals_two_strided_convolutions(size):
    torch.manual_seed(0)
    op = FactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, size, size)
    relu = torch.relu(x)
    shifted = torch.nn.functional.pad(relu, (0, 1, 0, 1))[:, :, 1:, 1:]
    expected = op.bn(torch.cat([
        torch.nn.functional.conv2d(relu, op.conv_1.weight, stride=2),
        torch.nn.functional.conv2d(shifted, op.conv_2.weight, stride=2)], dim=1))
    assert torch.allclose(op(x), expected, atol=1e-6)
    # channels-last input with few channels (crashed torch 2.14's strided 1x1 conv on some CPUs)
    cl = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    op.train()(cl).sum().backward()
    assert cl.grad.shape == x.shape


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("affine", [True, False])
def test_every_cell_op_keeps_channels_and_size_and_has_weights_only_where_it_should(name, affine):
    op = make_op(name, 4, affine)
    assert op(torch.randn(2, 4, 7, 5)).shape == (2, 4, 7, 5)
    has_weights = any(True for _ in op.parameters())
    assert has_weights == ("conv" in name)  # the pools and identity have none
    norms = [m for m in op.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.affine == affine for m in norms)


def test_every_enas_micro_op_has_a_builder_and_an_unknown_op_is_named():
    assert set(ENAS_OPS) <= set(OPS)
    with pytest.raises(ValueError, match="unknown op 'conv_9x9'; known ops: sep_conv_3x3, "):
        make_op("conv_9x9", 4, True)


def test_average_pool_makes_its_window_counts_once_per_map_size_device_and_dtype():
    _window_counts.cache_clear()
    pool = AvgPool(3)
    for shape, dtype in (((2, 3, 8, 8), torch.float32), ((1, 3, 8, 8), torch.float32),
                         ((2, 3, 7, 8), torch.float32), ((2, 3, 8, 8), torch.float64)):
        pool(torch.randn(*shape, dtype=dtype))
    info = _window_counts.cache_info()
    assert (info.misses, info.hits) == (3, 1)  # the batch size is not part of the key


def test_window_counts_made_under_inference_mode_serve_a_training_step_later():
    _window_counts.cache_clear()
    with torch.inference_mode():
        AvgPool(3)(torch.randn(2, 3, 6, 6))
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    (grad,) = torch.autograd.grad(AvgPool(3)(x).sum(), x)  # saves the cached counts
    want = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    assert torch.allclose(grad, want_grad, atol=1e-6)


@pytest.mark.parametrize("device, box_sum, kernel", [
    ("cpu", None, False), ("meta", None, True),  # meta: any device that is not the CPU
    ("cpu", False, True), ("meta", True, False),
])
def test_average_pool_takes_torchs_kernel_off_the_cpu_or_when_told(device, box_sum, kernel,
                                                                    monkeypatch):
    calls = []
    real = F.avg_pool2d
    monkeypatch.setattr(F, "avg_pool2d", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    out = AvgPool(3, box_sum=box_sum)(torch.randn(2, 3, 6, 6, device=device))
    assert out.shape == (2, 3, 6, 6) and out.device.type == device
    assert calls == ([{"count_include_pad": False}] if kernel else [])


@pytest.mark.parametrize("k", [3, 5])
def test_average_pool_with_torchs_kernel_matches_the_box_sum(k):
    x = torch.randn(2, 4, 7, 5, requires_grad=True)
    fast, box = AvgPool(k, box_sum=False)(x), AvgPool(k, box_sum=True)(x)
    (g_fast,), (g_box,) = (torch.autograd.grad(y.square().sum(), x) for y in (fast, box))
    assert torch.allclose(fast, box, atol=1e-6) and torch.allclose(g_fast, g_box, atol=1e-5)


def test_uncounted_batch_norm_normalizes_and_tracks_as_torchs_without_the_count():
    torch.manual_seed(0)
    ours, theirs = UncountedBatchNorm2d(4, affine=False), torch.nn.BatchNorm2d(4, affine=False)
    for _ in range(3):
        x = torch.randn(5, 4, 3, 3)
        assert torch.equal(ours(x), theirs(x))
    assert torch.equal(ours.running_mean, theirs.running_mean)
    assert torch.equal(ours.running_var, theirs.running_var)
    assert "num_batches_tracked" not in ours.state_dict()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        ours(torch.randn(5, 4, 3, 3))
    assert not [e for e in prof.events() if e.name == "aten::add_"]  # no count kept


@pytest.mark.parametrize("metadata", [True, False])
def test_uncounted_batch_norm_loads_a_state_dict_that_holds_the_count(metadata):
    theirs = torch.nn.BatchNorm2d(4)
    theirs(torch.randn(5, 4, 3, 3))
    state = theirs.state_dict()
    if not metadata:  # a plain dict: BatchNorm's loader would add a count of its own
        state = dict(state)
    ours = UncountedBatchNorm2d(4)
    ours.load_state_dict(state)  # strict
    assert torch.equal(ours.running_mean, theirs.running_mean)
    assert "num_batches_tracked" in state  # the caller's dict is left whole


def test_uncounted_batch_norm_loads_its_own_state_dict():
    """A checkpoint written now (no count in it) resumes."""
    trained = UncountedBatchNorm2d(4)
    trained(torch.randn(5, 4, 3, 3))
    fresh = UncountedBatchNorm2d(4)
    fresh.load_state_dict(trained.state_dict())  # strict
    assert torch.equal(fresh.running_var, trained.running_var)
