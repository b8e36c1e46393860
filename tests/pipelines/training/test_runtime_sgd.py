"""runtime.sgd: torch's SGD with the multi-tensor update, the floats of the per-weight loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pipelines.training.runtime import sgd


@pytest.mark.parametrize("options", [
    {"momentum": 0.9, "nesterov": True, "weight_decay": 3e-4},  # the shared weights, nao search
    {"momentum": 0.9, "weight_decay": 3e-4},                    # final training
    {"weight_decay": 5e-7},                                     # the language model
])
def test_same_floats_as_the_per_weight_loop_with_weights_a_step_leaves_out(options):
    torch.manual_seed(0)
    net = nn.ModuleList([nn.Linear(6, 6), nn.Linear(6, 3), nn.Linear(6, 3)])
    ours, theirs = copy.deepcopy(net), copy.deepcopy(net)
    fast = sgd(ours.parameters(), lr=0.1, **options)
    loop = torch.optim.SGD(theirs.parameters(), lr=0.1, foreach=False, **options)
    assert fast.defaults["foreach"] is True
    for step in range(12):
        x, head = torch.randn(5, 6), 1 + step % 2  # as a supernet: one head per step
        for model, optimizer in ((ours, fast), (theirs, loop)):
            optimizer.zero_grad(set_to_none=True)
            model[head](torch.relu(model[0](x))).square().mean().backward()
            optimizer.step()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[1].weight, net[1].weight)  # the steps moved the weights
