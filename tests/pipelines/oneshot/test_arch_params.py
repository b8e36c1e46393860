"""ArchParams: one categorical per decision, masked where a decision has fewer choices."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from pipelines.oneshot.arch_params import PROBE_SAMPLES, ArchParams, decision_choices, gumbel
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


class _ForkingSpace:
    """Two positions; the choices at position 1 depend on the token at 0. Its ``sample`` walks
    through fixed architectures: the ``odd``-th draw starts with token 1, every other with 0."""

    name = "forking"
    length = 2

    def __init__(self, odd: int):
        self.odd, self.drawn = odd, 0

    def sample(self, rng):
        self.drawn += 1
        return (1 if self.drawn - 1 == self.odd else 0, 0)

    def to_tokens(self, arch):
        return tuple(arch)

    def valid_tokens(self, prefix):
        if not prefix:
            return (0, 1)
        return (0, 1) if prefix[0] == 0 else (0, 1, 2)


@pytest.mark.parametrize("odd", [0, 1, PROBE_SAMPLES - 1])
def test_choices_that_depend_on_the_earlier_tokens_are_refused_whichever_probe_shows_it(odd):
    with pytest.raises(ConfigError,
                       match=r"forking: the choices at 1 depend on the earlier tokens.*enas-micro"):
        decision_choices(_ForkingSpace(odd))
    with pytest.raises(ConfigError, match="forking"):
        ArchParams(_ForkingSpace(odd))


def test_a_decision_without_choices_is_refused():
    with pytest.raises(ConfigError, match="toy: every decision needs at least one choice"):
        ArchParams(SimpleNamespace(name="toy"), [(0, 1), ()])


def test_masked_fills_the_missing_choices_of_the_given_logits():
    params = toy()
    logits = torch.tensor([[2.0, 3.0, 4.0], [5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])
    got = params.masked(logits)
    assert got.tolist() == [[2.0, 3.0, -math.inf], [5.0, 6.0, 7.0], [8.0, -math.inf, -math.inf]]
    assert params.masked()[1].tolist() == pytest.approx(LOGITS[1])  # default: alpha


def test_log_prob_sums_each_decisions_log_probability_and_its_gradient_is_onehot_minus_p():
    params = toy()
    index = torch.tensor([1, 0, 0])
    log_p = params.log_prob(index)
    want = sum(float(torch.log_softmax(torch.tensor(row), 0)[k])
               for row, k in zip(LOGITS, index.tolist(), strict=True))
    assert log_p.item() == pytest.approx(want, rel=1e-6)
    (grad,) = torch.autograd.grad(log_p, params.alpha)
    onehot = torch.zeros_like(grad).scatter_(1, index[:, None], 1.0)
    torch.testing.assert_close(grad, (onehot - params.probs()).detach() * params.mask)


def test_samples_are_categorical_draws_reproducible_from_their_generator():
    params = toy()
    draws = torch.stack([params.sample(torch.Generator().manual_seed(s)) for s in range(3000)])
    again = torch.stack([params.sample(torch.Generator().manual_seed(s)) for s in range(3000)])
    assert torch.equal(draws, again)
    for d, row in enumerate(LOGITS):
        p = np.exp(row) / np.exp(row).sum()
        freq = np.bincount(draws[:, d].numpy(), minlength=len(row)) / len(draws)
        np.testing.assert_allclose(freq, p, atol=0.03)


def test_gumbel_noise_stays_finite_at_the_extreme_uniform_draws(monkeypatch):
    # torch.rand draws from [0, 1): a draw of exactly 0 must not become -inf noise (a decision
    # of one choice would then have no finite score and its relaxation turn NaN)
    extremes = torch.tensor([0.0, 0.5, 1.0 - 2.0 ** -24])
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: extremes.clone())
    noise = gumbel((3,), torch.Generator())
    assert torch.isfinite(noise).all()
    assert noise[1].item() == pytest.approx(-math.log(math.log(2.0)))


def test_the_state_of_arch_params_is_its_logits_alone():
    # the mask follows from the choices: a saved state holds alpha only, loads into a fresh one
    params = toy()
    state = params.state_dict()
    assert list(state) == ["alpha"]
    fresh = ArchParams(SimpleNamespace(name="toy"), [tuple(range(n)) for n in SIZES])
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.probs(), params.probs())


def test_index_of_refuses_an_architecture_with_more_positions_than_decisions():
    space = get_space("enas-micro")
    params = ArchParams(space, decision_choices(space)[:-1])
    arch = space.sample(np.random.default_rng(0))
    with pytest.raises(ValueError):
        params.index_of(arch)
