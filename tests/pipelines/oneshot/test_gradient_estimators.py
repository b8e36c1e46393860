"""The relaxed methods' alpha-gradients on a toy problem: an enumerable loss table over three
decisions (2, 3 and 3 choices), so the exact gradient of the expected loss is known."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from pipelines.oneshot.arch_params import ArchParams
from pipelines.oneshot.gradient_estimators import (
    ESTIMATORS,
    ControlVariate,
    Darts,
    Ram,
    Relax,
    ScoreFunction,
    Snas,
    conditional_gumbel,
    ram_grad,
    relax_grad,
    score_function_grad,
)

SIZES = (2, 3, 3)
SAMPLES = 3000


class TableObjective:
    """``loss(index)`` a fixed table; ``relaxed_loss(w)`` its multilinear extension
    ``sum_z prod_d w_d[z_d] L(z)`` (the expected loss when ``w`` are the probabilities)."""

    def __init__(self, table: dict[tuple[int, ...], float]):
        self.table = table
        self.calls = 0

    def loss(self, index: torch.Tensor) -> float:
        self.calls += 1
        return self.table[tuple(index.tolist())]

    def relaxed_loss(self, weights: torch.Tensor) -> torch.Tensor:
        total = weights.new_zeros(())
        for z, value in self.table.items():
            total = total + torch.stack([weights[d, k] for d, k in enumerate(z)]).prod() * value
        return total


def toy_params(logits: list[list[float]] | None = None) -> ArchParams:
    params = ArchParams(SimpleNamespace(name="toy"), [tuple(range(n)) for n in SIZES])
    if logits is not None:
        with torch.no_grad():
            for d, row in enumerate(logits):
                params.alpha[d, :len(row)] = torch.tensor(row)
    return params


def random_table(seed: int = 0) -> dict[tuple[int, ...], float]:
    rng = np.random.default_rng(seed)
    return {z: float(rng.uniform(0, 2)) for z in itertools.product(*(range(n) for n in SIZES))}


def exact_gradient(params: ArchParams, table: dict) -> torch.Tensor:
    expected = TableObjective(table).relaxed_loss(params.probs())
    (grad,) = torch.autograd.grad(expected, params.alpha)
    return grad


def mean_and_error(samples: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    stacked = torch.stack(samples)
    return stacked.mean(0), stacked.std(0) / len(samples) ** 0.5


LOGITS = [[0.3, -0.2], [0.5, 0.0, -0.4], [-0.3, 0.2, 0.1]]


@pytest.mark.parametrize("method", ["sf", "relax", "ram"])
def test_unbiased_estimators_average_to_the_exact_gradient_of_the_expected_loss(method):
    table = random_table()
    params = toy_params(LOGITS)
    exact = exact_gradient(params, table)
    objective = TableObjective(table)
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    control = ControlVariate(params.alpha.numel(), 8)  # any fixed c_phi keeps RELAX unbiased
    with torch.no_grad():  # a steep one, so that a wrong correction term shows as a bias
        torch.nn.init.normal_(control.net[-1].weight)
        control.offset.fill_(1.0)
        for p in control.parameters():
            p.mul_(4.0)
    samples = []
    for _ in range(SAMPLES):
        if method == "sf":
            index = params.sample(gen)
            samples.append(score_function_grad(params, index, objective.loss(index), 1.0))
        elif method == "relax":
            samples.append(relax_grad(params, objective.loss, control, 0.5, gen)[0])
        else:
            index = params.sample(gen)
            decision = int(torch.randint(len(SIZES), (1,), generator=gen))
            samples.append(ram_grad(params, index, objective.loss, [decision]))
    mean, error = mean_and_error(samples)
    mask = params.mask
    assert torch.all((mean - exact).abs()[mask] <= 4 * error[mask] + 1e-4), (mean, exact, error)
    assert exact.abs().max() > 0.05  # the check is not vacuous


def test_ram_over_every_decision_of_a_sample_is_exact_for_an_additive_loss():
    """With no interaction between decisions each conditional expectation is the marginal one,
    so a single sample marginalizing all decisions gives the exact gradient."""
    rng = np.random.default_rng(3)
    parts = [rng.uniform(0, 1, n) for n in SIZES]
    table = {z: float(sum(parts[d][k] for d, k in enumerate(z)))
             for z in itertools.product(*(range(n) for n in SIZES))}
    params = toy_params(LOGITS)
    index = params.sample(torch.Generator().manual_seed(0))
    got = ram_grad(params, index, TableObjective(table).loss, range(len(SIZES)))
    assert torch.allclose(got, exact_gradient(params, table), atol=1e-6)


def test_variance_of_the_unbiased_estimators_orders_ram_below_sf():
    table = random_table(1)
    params = toy_params(LOGITS)
    exact = exact_gradient(params, table)
    objective = TableObjective(table)
    gen = torch.Generator().manual_seed(2)
    baseline = float(np.mean(list(table.values())))
    sf = [score_function_grad(params, i, objective.loss(i), baseline)
          for i in (params.sample(gen) for _ in range(500))]
    ram = [ram_grad(params, params.sample(gen), objective.loss, range(len(SIZES)))
           for _ in range(500)]
    def spread(xs):
        return float(((torch.stack(xs) - exact) ** 2).sum(-1).sum(-1).mean())
    assert spread(ram) < spread(sf)


def best_of(table: dict) -> tuple[int, ...]:
    return min(table, key=table.get)


@pytest.mark.parametrize("method", sorted(ESTIMATORS))
def test_each_method_moves_alpha_toward_the_best_architecture(method):
    table = random_table(4)
    params = toy_params()
    objective = TableObjective(table)
    estimator = {"relax": lambda: Relax(hidden=8), "ram": lambda: Ram(decisions=0)}.get(
        method, ESTIMATORS[method])()
    optimizer = torch.optim.Adam([params.alpha], lr=0.05)
    gen = torch.Generator().manual_seed(0)
    start = TableObjective(table).relaxed_loss(params.probs()).item()
    steps = 400
    for step in range(steps):
        estimator.new_epoch(step, steps)
        grad, _info = estimator.gradient(params, objective, gen)
        params.alpha.grad = grad
        optimizer.step()
    assert tuple(params.argmax().tolist()) == best_of(table)
    assert TableObjective(table).relaxed_loss(params.probs()).item() < start
    assert params.entropy().item() < toy_params().entropy().item()


class SequenceObjective:
    """Loss ``losses[t]`` at the t-th call, whatever is sampled; records the samples."""

    def __init__(self, losses: list[float]):
        self.losses = list(losses)
        self.seen: list[torch.Tensor] = []

    def loss(self, index: torch.Tensor) -> float:
        self.seen.append(index.clone())
        return self.losses[len(self.seen) - 1]


def grad_log_prob(params: ArchParams, index: torch.Tensor) -> torch.Tensor:
    probs = params.probs()
    log_p = torch.stack([probs[d, k].log() for d, k in enumerate(index.tolist())]).sum()
    (grad,) = torch.autograd.grad(log_p, params.alpha)
    return grad


def test_score_function_baseline_is_the_one_from_before_this_steps_loss():
    """b_1 = L_1 (so no step at first), then b_t+1 = decay b_t + (1 - decay) L_t, and step t
    uses b_t: its own loss is not in its baseline (that would bias the estimate)."""
    params = toy_params(LOGITS)
    objective = SequenceObjective([1.0, 3.0, 0.0])
    sf = ScoreFunction(baseline_decay=0.5)
    gen = torch.Generator().manual_seed(0)
    steps = [sf.gradient(params, objective, gen) for _ in range(3)]
    # baselines: 1 (the first loss), 1 (= .5 * 1 + .5 * 1), 2 (= .5 * 1 + .5 * 3)
    assert [info["baseline"] for _, info in steps] == [1.0, 1.0, 2.0]
    assert [info["alpha_loss"] for _, info in steps] == [1.0, 3.0, 0.0]
    for (grad, _), factor, index in zip(steps, [0.0, 2.0, -2.0], objective.seen, strict=True):
        torch.testing.assert_close(grad, factor * grad_log_prob(params, index))
    assert sf.baseline == pytest.approx(1.0)  # .5 * 2 + .5 * 0, the next step's baseline
    assert sf.state_dict() == {"baseline": pytest.approx(1.0)}


def test_entropy_of_uniform_logits_is_the_log_of_the_number_of_architectures():
    assert toy_params().entropy().item() == pytest.approx(np.log(np.prod(SIZES)))


def test_samples_follow_the_softmax_and_never_pick_a_missing_choice():
    params = toy_params(LOGITS)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([params.sample(gen) for _ in range(4000)])
    assert int(draws[:, 0].max()) <= 1  # decision 0 has two choices
    freq = torch.stack([(draws[:, 1] == k).float().mean() for k in range(3)])
    assert torch.allclose(freq, params.probs()[1, :3].detach(), atol=0.03)


def test_snas_temperature_anneals_from_max_to_min():
    snas = Snas(tau_max=1.0, tau_min=0.1)
    snas.new_epoch(0, 10)
    assert snas.tau == pytest.approx(1.0)
    snas.new_epoch(9, 10)
    assert snas.tau == pytest.approx(0.1)


@pytest.mark.parametrize("make, message", [
    (lambda: Darts(order=3), "order"),
    (lambda: Snas(tau_max=0.1, tau_min=1.0), "must not exceed"),
    (lambda: ScoreFunction(baseline_decay=1.0), "baseline_decay"),
    (lambda: Relax(hidden=0), "hidden"),
    (lambda: Ram(decisions=-1), "decisions"),
])
def test_bad_estimator_options_are_one_line_config_errors(make, message):
    with pytest.raises(ConfigError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


def test_conditional_relaxation_keeps_the_sample_and_marginalizes_to_the_unconditional_one():
    """z~ | b has its maximum at b, and with b ~ p it is distributed as log p + Gumbel (whose
    mean is log p + Euler's gamma)."""
    params = toy_params(LOGITS)
    gen = torch.Generator().manual_seed(0)
    log_p = params.log_probs().detach()
    draws = []
    for _ in range(SAMPLES):
        index = params.sample(gen)
        z = conditional_gumbel(log_p, index, params.mask, gen)
        assert torch.equal(z.argmax(-1), index)
        draws.append(z)
    mean = torch.stack(draws).mean(0)
    assert torch.allclose(mean[params.mask], (log_p + np.euler_gamma)[params.mask], atol=0.08)
