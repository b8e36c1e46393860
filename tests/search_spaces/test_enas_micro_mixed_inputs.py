"""The enas-micro supernet's input-mixed path (DARTS relaxes a branch's input choice too)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from search_spaces import get_space
from search_spaces.enas_micro_arch import N_CELL_INPUTS, N_NODES, OPS
from search_spaces.enas_micro_net import N_INPUTS, OpWeights, output_weights

CHANNELS = 8
CLASSES = 10
BATCH = 4
DIGITS = (1, 8, 8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def readable_mask() -> torch.Tensor:
    """1 where node i's branches may read input j (j <= i + 1)."""
    mask = torch.zeros(N_NODES, 2, N_INPUTS)
    for i in range(N_NODES):
        mask[i, :, :N_CELL_INPUTS + i] = 1
    return mask


def test_one_hot_input_weights_compute_what_the_discrete_path_does():
    space = get_space("enas-micro")
    torch.manual_seed(0)
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0])
    x = torch.randn(BATCH, *DIGITS)
    for seed in range(3):
        arch = space.sample(np.random.default_rng(seed))
        assert torch.equal(supernet(x, arch), supernet(x, OpWeights.one_hot(arch, inputs=True)))


def test_output_weights_are_the_probability_that_no_later_branch_reads_a_node():
    weights = readable_mask() / readable_mask().sum(-1, keepdim=True)
    out = output_weights(weights)
    # node 3 is read only by node 4's two branches, each with probability 1/6
    assert out[3].item() == pytest.approx((5 / 6) ** 2)
    assert out[N_NODES - 1].item() == 1.0
    expected_0 = np.prod([1 - 1 / (N_CELL_INPUTS + m) for m in range(1, N_NODES)]) ** 2
    assert out[0].item() == pytest.approx(expected_0)


def test_gradients_reach_the_input_weights_of_every_cell():
    space = get_space("enas-micro")
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0])
    arch = space.sample(np.random.default_rng(0))
    beta = torch.zeros(2, N_NODES, 2, N_INPUTS, requires_grad=True)
    inputs = torch.softmax(beta.masked_fill(readable_mask() == 0, float("-inf")), -1)
    ops = torch.full((N_NODES, 2, len(OPS)), 1 / len(OPS))
    out = supernet(torch.randn(BATCH, *DIGITS), OpWeights(arch, ops, ops, inputs[0], inputs[1]))
    torch.nn.functional.cross_entropy(out, torch.randint(CLASSES, (BATCH,))).backward()
    readable = readable_mask().bool()
    for cell in range(2):
        assert (beta.grad[cell][readable] != 0).all()
        assert (beta.grad[cell][~readable] == 0).all()


def test_weight_on_an_input_a_node_may_not_read_is_refused():
    space = get_space("enas-micro")
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0])
    arch = space.sample(np.random.default_rng(0))
    bad = OpWeights.one_hot(arch, inputs=True)
    bad.normal_inputs[0, 0, N_INPUTS - 1] = 0.5
    with pytest.raises(ConfigError, match="may read inputs 0..1"):
        supernet(torch.randn(BATCH, *DIGITS), bad)
    short = torch.ones(N_NODES, 2, N_INPUTS - 1)
    with pytest.raises(ConfigError, match="one weight per input"):
        supernet(torch.randn(BATCH, *DIGITS), bad._replace(normal_inputs=short))
