"""The relaxed methods' alpha-gradients on a toy problem: an enumerable loss table over three
decisions (2, 3 and 3 choices), so the exact gradient of the expected loss is known."""

from __future__ import annotations

import copy
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


def _make(method: str):
    """Each method with small, explicit options (RAM marginalizes one decision, so its draw of
    decisions matters)."""
    return {"darts": lambda: Darts(), "snas": lambda: Snas(tau_max=2.0, tau_min=0.5),
            "sf": lambda: ScoreFunction(baseline_decay=0.5),
            "relax": lambda: Relax(hidden=8, lr=0.1, temperature=0.7),
            "ram": lambda: Ram(decisions=1)}[method]()


def _twin(gen: torch.Generator) -> torch.Generator:
    """A generator in the same state as ``gen``: it draws what ``gen`` will draw next."""
    twin = torch.Generator()
    twin.set_state(gen.get_state())
    return twin


class RecordingObjective(TableObjective):
    """A table objective that records the architectures it was asked about."""

    def __init__(self, table):
        super().__init__(table)
        self.seen: list[tuple[int, ...]] = []

    def loss(self, index):
        self.seen.append(tuple(index.tolist()))
        return super().loss(index)


@pytest.mark.parametrize("make, message", [
    (lambda: Darts(order=0), "darts: order must be a whole number >= 1 and <= 2, got 0"),
    (lambda: Darts(xi=-0.5), "darts: xi must be a finite number >= 0, got -0.5"),
    (lambda: Snas(tau_max=0), "snas: tau_max must be a finite number > 0, got 0"),
    (lambda: Snas(tau_min=0), "snas: tau_min must be a finite number > 0, got 0"),
    (lambda: ScoreFunction(baseline_decay=-0.1),
     "sf: baseline_decay must be a finite number >= 0 and < 1, got -0.1"),
    (lambda: Relax(hidden=0), "relax: hidden must be a whole number >= 1, got 0"),
    (lambda: Relax(lr=0), "relax: lr must be a finite number > 0, got 0"),
    (lambda: Relax(temperature=0), "relax: temperature must be a finite number > 0, got 0"),
    (lambda: Ram(decisions=-1), "ram: decisions must be a whole number >= 0, got -1"),
])
def test_a_refused_option_names_its_method_the_option_and_the_range(make, message):
    with pytest.raises(ConfigError) as err:
        make()
    assert str(err.value) == message


def test_the_edges_of_each_options_range_are_accepted():
    assert Darts(order=2, xi=0.0).xi == 0.0
    assert Snas(tau_max=0.5, tau_min=0.5).tau == 0.5  # a constant temperature
    assert ScoreFunction(baseline_decay=0.0).baseline_decay == 0.0
    assert Relax(hidden=1).hidden == 1
    assert Ram(decisions=0).decisions == 0


class UnrolledObjective(TableObjective):
    """A table objective with a stand-in for DARTS's unrolled (second-order) gradient."""

    def second_order_grad(self, params, xi):
        self.asked = (params, xi)
        return torch.full_like(params.alpha, 0.25), 1.5


def test_darts_follows_the_mixed_loss_or_at_order_2_the_unrolled_one_at_its_step_size():
    table = random_table(2)
    params = toy_params(LOGITS)
    objective = UnrolledObjective(table)
    grad, info = Darts(order=1).gradient(params, objective, torch.Generator())
    torch.testing.assert_close(grad, exact_gradient(params, table))
    assert info == {"alpha_loss": pytest.approx(objective.relaxed_loss(params.probs()).item())}
    grad, info = Darts(order=2, xi=0.01).gradient(params, objective, torch.Generator())
    assert torch.equal(grad, torch.full_like(params.alpha, 0.25))
    assert info == {"alpha_loss": 1.5}
    assert objective.asked[0] is params and objective.asked[1] == 0.01


def test_snas_gradient_goes_through_a_gumbel_softmax_sample_at_its_temperature():
    table = random_table(3)
    params = toy_params(LOGITS)
    snas = Snas(tau_max=2.0, tau_min=0.5)
    gen = torch.Generator().manual_seed(4)
    weights = params.relaxed(2.0, _twin(gen))  # before any epoch: tau_max
    expected = TableObjective(table).relaxed_loss(weights)
    (want,) = torch.autograd.grad(expected, params.alpha)
    grad, info = snas.gradient(params, TableObjective(table), gen)
    torch.testing.assert_close(grad, want)
    assert info == {"alpha_loss": pytest.approx(expected.item()), "tau": 2.0}


@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_snas_temperature_falls_geometrically_from_max_at_the_first_epoch_to_min_at_the_last(
        epochs):
    snas = Snas(tau_max=2.0, tau_min=0.5)
    taus = []
    for epoch in range(epochs):
        snas.new_epoch(epoch, epochs)
        taus.append(snas.tau)
    want = [2.0] if epochs == 1 else [2.0 * 0.25 ** (e / (epochs - 1)) for e in range(epochs)]
    assert taus == pytest.approx(want)


def test_what_the_shared_weights_train_on_for_each_method():
    params = toy_params(LOGITS)
    kind, weights = Darts().weight_choice(params, torch.Generator().manual_seed(3))
    assert kind == "relaxed" and torch.equal(weights, params.probs().detach())
    kind, weights = Snas(tau_max=2.0, tau_min=0.5).weight_choice(
        params, torch.Generator().manual_seed(3))
    assert kind == "relaxed"
    torch.testing.assert_close(weights, params.relaxed(2.0, torch.Generator().manual_seed(3)))
    sample = params.sample(torch.Generator().manual_seed(3))
    for method in ("sf", "relax", "ram"):
        kind, index = _make(method).weight_choice(params, torch.Generator().manual_seed(3))
        assert kind == "discrete" and torch.equal(index, sample)


@pytest.mark.parametrize("method", sorted(ESTIMATORS))
def test_every_method_draws_its_randomness_from_the_generator_it_is_given(method):
    table = random_table(5)

    def run(global_seed: int) -> list[torch.Tensor]:
        torch.manual_seed(global_seed)  # the global generator must not matter
        estimator = _make(method)
        params = toy_params(LOGITS)
        gen = torch.Generator().manual_seed(5)
        drawn = []
        for _ in range(3):
            grad, _info = estimator.gradient(params, TableObjective(table), gen)
            drawn += [grad, estimator.weight_choice(params, gen)[1]]
        return drawn

    for first, second in zip(run(1), run(2), strict=True):
        torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("decisions, marginalized", [(1, 1), (2, 2), (5, 3), (0, 3)])
def test_ram_marginalizes_as_many_decisions_as_asked_each_exactly(decisions, marginalized):
    table = random_table(5)
    params = toy_params(LOGITS)
    objective = RecordingObjective(table)
    grad, info = Ram(decisions=decisions).gradient(params, objective,
                                                   torch.Generator().manual_seed(0))
    base = objective.seen[0]
    chosen = [d for d in range(len(SIZES)) if grad[d].abs().sum() > 0]
    assert len(chosen) == marginalized
    p = params.probs().detach()
    for d in chosen:
        losses = torch.tensor([table[base[:d] + (k,) + base[d + 1:]] for k in range(SIZES[d])])
        pd = p[d, :SIZES[d]]
        want = pd * (losses - (pd * losses).sum()) * len(SIZES) / marginalized
        torch.testing.assert_close(grad[d, :SIZES[d]], want)
    evaluations = 1 + sum(SIZES[d] - 1 for d in chosen)
    assert info == {"alpha_loss": table[base], "evaluations": evaluations}
    assert len(objective.seen) == evaluations  # each architecture's loss asked once


def test_ram_grad_keeps_the_losses_at_the_precision_of_alpha():
    params = toy_params(LOGITS).double()
    index = torch.tensor([0, 0, 0])
    grad = ram_grad(params, index, lambda other: 1.0 + 1e-9 * int(other[0]), [0])
    pd = params.probs().detach()[0, :2]
    losses = torch.tensor([1.0, 1.0 + 1e-9], dtype=torch.float64)
    want = pd * (losses - (pd * losses).sum()) * len(SIZES)
    assert grad.dtype == torch.float64
    torch.testing.assert_close(grad[0, :2], want, rtol=1e-6, atol=0)


def test_control_variate_is_a_constant_plus_a_tanh_mlp_of_the_relaxed_sample():
    torch.manual_seed(0)
    control = ControlVariate(6, 4)
    relaxed = torch.rand(2, 3)
    with torch.no_grad():
        control.offset.fill_(0.7)
        assert control(relaxed).item() == pytest.approx(0.7)  # at first: the constant alone
        torch.nn.init.normal_(control.net[-1].weight)
        torch.nn.init.normal_(control.net[-1].bias)
        first, last = control.net[0], control.net[-1]
        want = 0.7 + last(torch.tanh(first(relaxed.reshape(1, -1)))).reshape(())
        got = control(relaxed)
    assert got.shape == ()
    torch.testing.assert_close(got, want)


def test_relax_stays_finite_when_a_uniform_draw_is_exactly_zero(monkeypatch):
    # torch.rand draws from [0, 1), 0 included: the Gumbel noise must not become infinite there
    params = toy_params(LOGITS)
    torch.manual_seed(0)
    control = ControlVariate(params.alpha.numel(), 8)
    with torch.no_grad():
        torch.nn.init.normal_(control.net[-1].weight)
    monkeypatch.setattr(torch, "rand", lambda shape, generator=None: torch.zeros(shape))
    estimate, _graph, index, loss = relax_grad(params, TableObjective(random_table()).loss,
                                               control, 0.5, torch.Generator())
    assert torch.isfinite(estimate).all()
    z = conditional_gumbel(params.log_probs().detach(), index, params.mask, torch.Generator())
    assert torch.isfinite(z[params.mask]).all()


def test_relax_with_a_constant_loss_steps_by_exactly_zero_from_the_first_step():
    """The control variate's constant starts at the first sampled loss, so on a constant loss
    the score term vanishes and, the MLP starting at zero, so does the correction."""
    table = dict.fromkeys(random_table(), 1.5)
    params = toy_params(LOGITS)
    relax = Relax(hidden=8)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        grad, info = relax.gradient(params, TableObjective(table), gen)
        assert torch.equal(grad, torch.zeros_like(grad))
        assert info == {"alpha_loss": 1.5, "relax_sq": 0.0}


def test_a_relax_step_is_relax_grad_with_the_control_variate_trained_so_far():
    table = random_table(6)
    params = toy_params(LOGITS)
    relax = Relax(hidden=8, lr=0.1, temperature=0.7)
    gen = torch.Generator().manual_seed(0)
    relax.bind(params)
    width = sum(p.numel() for p in relax.control.parameters())
    assert width == params.alpha.numel() * 8 + 8 + 8 + 1 + 1  # `hidden` units
    for step in range(3):
        twin = _twin(gen)
        control = copy.deepcopy(relax.control)
        if step == 0:  # the constant starts at the loss of a first sample
            with torch.no_grad():
                control.offset.fill_(table[tuple(params.sample(twin).tolist())])
        want, _graph, _index, loss = relax_grad(params, TableObjective(table).loss, control, 0.7,
                                                twin)
        before = float(control.offset.detach())
        grad, info = relax.gradient(params, TableObjective(table), gen)
        torch.testing.assert_close(grad, want)
        assert info == {"alpha_loss": loss,
                        "relax_sq": pytest.approx(float((want ** 2).sum()), rel=1e-5)}
        # Adam's first step on the squared estimate moves the constant by the learning rate
        if step == 0:
            assert abs(float(relax.control.offset.detach()) - before) == pytest.approx(0.1, rel=1e-3)
        assert params.alpha.grad is None  # alpha's gradient is the caller's to set
        assert torch.equal(gen.get_state(), twin.get_state())  # drew what relax_grad draws


@pytest.mark.parametrize("method", sorted(ESTIMATORS))
def test_a_method_restored_from_its_state_continues_as_if_never_stopped(method):
    table = random_table(7)
    params = toy_params(LOGITS)
    gen = torch.Generator().manual_seed(0)
    first = _make(method)
    first.bind(params)
    first.new_epoch(1, 4)
    for _ in range(3):
        first.gradient(params, TableObjective(table), gen)
    second = _make(method)
    second.bind(params)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    twin = _twin(gen)
    for _ in range(2):
        grad, info = first.gradient(params, TableObjective(table), gen)
        again, info_again = second.gradient(params, TableObjective(table), twin)
        torch.testing.assert_close(again, grad, rtol=0, atol=0)
        assert info_again == info


def test_a_state_saved_before_any_step_restores_a_fresh_start():
    params = toy_params(LOGITS)
    sf = ScoreFunction()
    sf.load_state_dict(ScoreFunction().state_dict())
    _grad, info = sf.gradient(params, TableObjective(random_table()),
                              torch.Generator().manual_seed(0))
    assert info["baseline"] == info["alpha_loss"]  # the first loss starts the baseline
    relax = Relax()
    relax.load_state_dict(Relax().state_dict())  # unbound: nothing to restore
    assert relax.control is None
    bound = Relax()
    bound.bind(params)
    with pytest.raises(ConfigError, match=r"^relax: bind\(params\) before restoring the control "
                                          r"variate$"):
        Relax().load_state_dict(bound.state_dict())
