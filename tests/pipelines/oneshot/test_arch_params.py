"""ArchParams: one categorical per decision, masked where a decision has fewer choices."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipelines.oneshot.arch_params import ArchParams
from search_spaces import get_space

SIZES = (2, 3, 1)
LOGITS = [[0.5, -0.5], [1.0, 0.0, -2.0], [0.3]]


def toy() -> ArchParams:
    params = ArchParams(SimpleNamespace(name="toy"), [tuple(range(n)) for n in SIZES])
    with torch.no_grad():
        for d, row in enumerate(LOGITS):
            params.alpha[d, :len(row)] = torch.tensor(row)
    return params


def test_entropy_is_the_sum_of_each_decisions_entropy():
    expected = 0.0
    for row in LOGITS:
        p = np.exp(row) / np.exp(row).sum()
        expected -= float((p * np.log(p)).sum())
    assert toy().entropy().item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 3.0])
def test_relaxed_sample_is_the_tempered_softmax_of_gumbel_perturbed_log_probs(temperature):
    params = toy()
    got = params.relaxed(temperature, torch.Generator().manual_seed(7))
    u = torch.rand(params.alpha.shape, generator=torch.Generator().manual_seed(7))
    noise = -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-7)))
    for d, row in enumerate(LOGITS):
        log_p = torch.log_softmax(torch.tensor(row), 0)
        want = torch.softmax((log_p + noise[d, :len(row)]) / temperature, 0)
        torch.testing.assert_close(got[d, :len(row)], want)
        assert torch.all(got[d, len(row):] == 0)  # choices the decision lacks
    # the argmax of the relaxation is the hard sample of the same noise
    hard = params.sample(torch.Generator().manual_seed(7))
    assert torch.equal(got.argmax(-1), hard)


def test_a_cold_relaxation_is_nearly_one_hot_and_a_hot_one_nearly_uniform():
    params = toy()
    cold = params.relaxed(0.01, torch.Generator().manual_seed(1))
    hot = params.relaxed(1000.0, torch.Generator().manual_seed(1))
    assert cold.max(-1).values.min() > 0.99
    for d, n in enumerate(SIZES):
        torch.testing.assert_close(hot[d, :n], torch.full((n,), 1 / n), atol=0.01, rtol=0)


def test_derive_and_argmax_never_pick_a_choice_the_decision_lacks():
    space = get_space("enas-micro")
    params = ArchParams(space)
    assert len(set(params.sizes)) > 1  # some decisions have fewer choices than others
    with torch.no_grad():
        params.alpha.zero_()  # the missing choices' logits stay 0, above every real one
        for d, n in enumerate(params.sizes):
            params.alpha[d, :n] = -1.0
            params.alpha[d, n - 1] = -0.5  # each decision's last real choice is the best
    assert params.argmax().tolist() == [n - 1 for n in params.sizes]
    arch = params.derive()
    assert torch.equal(params.index_of(arch), params.argmax())


def test_index_of_inverts_to_arch():
    space = get_space("enas-micro")
    params = ArchParams(space)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        index = params.sample(gen)
        arch = params.to_arch(index)
        assert torch.equal(params.index_of(arch), index)
        assert space.to_tokens(arch) == params.tokens(index)
    assert math.isclose(params.entropy().item(), sum(math.log(n) for n in params.sizes),
                        rel_tol=1e-6)
