"""The alpha-gradient of each relaxed method, one small class each, on any :class:`Objective`.

An objective is what the architecture is judged by on one validation minibatch: ``loss(index)``,
the loss of the discrete architecture ``index`` (one choice per decision), and
``relaxed_loss(weights)``, the differentiable loss of per-decision weights on the simplex (the
supernet's mixed path). The estimators of the expected loss ``E_{Z ~ p_alpha}[L(Z)]``:

- :class:`Darts` (Liu et al. 2019): no sampling; the gradient of ``L(softmax(alpha))``, first
  order, or second order through one unrolled weight step (finite differences, as DARTS);
- :class:`Snas` (Xie et al. 2019): the reparameterized gradient through a Gumbel-softmax sample
  at a temperature the driver anneals (biased, low variance);
- :class:`ScoreFunction` (REINFORCE): ``(L(Z) - b) grad log p(Z)`` with a moving-average
  baseline ``b`` from earlier steps (unbiased);
- :class:`Relax` (Grathwohl et al. 2018): the score function with a learned control variate
  ``c_phi`` on the Gumbel relaxation, corrected by its reparameterized gradient at the
  unconditional and the conditional (given the sample, REBAR's) relaxations; ``phi`` steps
  down the gradient of the squared estimate, i.e. the estimator's variance (unbiased);
- :class:`Ram` (Tokui and Sato, as the source study uses it): for a sample ``Z`` and decisions
  ``d``, the loss of every choice of ``d`` with the rest of ``Z`` fixed gives the exact gradient
  of the conditional expectation ``sum_k p_dk L(Z_d=k, Z_rest)`` (unbiased, lowest variance).

The pure functions (:func:`score_function_grad`, :func:`ram_grad`, :func:`relax_grad`) are the
cores; the classes add what persists between steps (baseline, control variate) and what the
supernet trains its weights on (:meth:`weight_choice`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import nn

from nao.errors import ConfigError
from nao.seeding import seeded_torch
from nao.validation import check_float, check_int

from .arch_params import NEG_INF, ArchParams, soft

# DARTS's second-order step size (its xi, the weights' learning rate when 0)
DARTS_XI = 0.0
SF_BASELINE_DECAY = 0.9  # ENAS's moving average of the reward
RELAX_HIDDEN = 32
RELAX_LR = 3e-3  # Adam on phi
RELAX_TEMPERATURE = 0.5  # the Gumbel-softmax temperature of the control variate's input
RAM_DECISIONS = 4  # decisions marginalized per step (of 40 on enas-micro)
SNAS_TAU_MAX = 1.0
SNAS_TAU_MIN = 0.1


class Objective(Protocol):
    """The loss an alpha step follows, on one validation minibatch."""

    def loss(self, index: torch.Tensor) -> float:
        """The loss of the discrete architecture ``index`` (no gradient)."""

    def relaxed_loss(self, weights: torch.Tensor) -> torch.Tensor:
        """The loss of per-decision weights ``(decisions, choices)``, differentiable in them."""


# ----- pure cores -------------------------------------------------------------------------------
def score_grad(params: ArchParams, index: torch.Tensor) -> torch.Tensor:
    """``grad_alpha log p(index)``: per decision, one-hot(index) minus the probabilities."""
    p = params.probs().detach()
    onehot = torch.zeros_like(p).scatter_(1, index[:, None], 1.0)
    return (onehot - p) * params.mask


def score_function_grad(params: ArchParams, index: torch.Tensor, loss: float,
                        baseline: float) -> torch.Tensor:
    """REINFORCE with a constant control variate: ``(loss - baseline) grad log p(index)``."""
    return (loss - baseline) * score_grad(params, index)


def ram_grad(params: ArchParams, index: torch.Tensor, loss_of: Callable[[torch.Tensor], float],
             decisions: Sequence[int]) -> torch.Tensor:
    """For each decision ``d`` of ``decisions``: ``p_d * (L_d - sum_k p_dk L_dk)``, where
    ``L_dk`` is the loss of ``index`` with decision ``d`` set to ``k`` (the exact gradient of
    the expectation over ``d`` given the rest), scaled by ``n_decisions / len(decisions)`` so
    that a uniform subset of decisions is unbiased for the full gradient."""
    p = params.probs().detach()
    grad = torch.zeros_like(p)
    for d in decisions:
        losses = []
        for k in range(params.sizes[d]):
            other = index.clone()
            other[d] = k
            losses.append(loss_of(other))
        values = torch.tensor(losses, dtype=p.dtype)
        pd = p[d, :len(losses)]
        grad[d, :len(losses)] = pd * (values - (pd * values).sum())
    return grad * (params.n_decisions / max(1, len(decisions)))


def conditional_gumbel(log_p: torch.Tensor, index: torch.Tensor, mask: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
    """``log p + Gumbel`` conditioned on its argmax being ``index`` (REBAR's z~ given b):
    the maximum is a standard Gumbel, every other entry a Gumbel at its log-probability
    truncated below it. Differentiable in ``log_p``; -inf where ``mask`` has no choice."""
    v = torch.rand(log_p.shape, generator=generator).clamp_(1e-10, 1 - 1e-7)
    safe = log_p.masked_fill(~mask, 0.0)
    top = -torch.log(-torch.log(v.gather(1, index[:, None])))  # (decisions, 1)
    rest = -torch.log(-torch.log(v) * torch.exp(-safe) + torch.exp(-top))
    onehot = torch.zeros_like(safe, dtype=torch.bool).scatter_(1, index[:, None], True)
    z = torch.where(onehot, top.expand_as(rest), rest)
    return z.masked_fill(~mask, NEG_INF)


class ControlVariate(nn.Module):
    """RELAX's ``c_phi``: a learnt constant plus a small MLP on the flattened relaxed sample.
    The MLP's output layer starts at zero, so before any training ``c_phi`` is a constant and
    RELAX is SF with that constant as baseline; training can only lower the variance from there
    (a random MLP instead starts with a variance many times SF's)."""

    def __init__(self, n_inputs: int, hidden: int = RELAX_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, relaxed: torch.Tensor) -> torch.Tensor:
        return self.offset + self.net(relaxed.reshape(1, -1)).reshape(())


def relax_grad(params: ArchParams, loss_of: Callable[[torch.Tensor], float],
               control: ControlVariate, temperature: float, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """One RELAX estimate: ``(L(b) - c(z~)) grad log p(b) + grad c(z) - grad c(z~)`` with
    ``z = log p + Gumbel``, ``b = argmax z``, ``z~ ~ z | b``, ``c`` read on the tempered
    softmax. Returns the estimate (detached), the same with its graph to ``phi`` (to train
    the control variate on its square), the sample ``b`` and ``L(b)``."""
    log_p = params.log_probs()
    z = log_p + _gumbel_like(log_p, generator)
    index = z.detach().argmax(-1)
    z_cond = conditional_gumbel(log_p, index, params.mask, generator)
    loss = loss_of(index)
    c_z = control(soft(z, temperature, params.mask))
    c_cond = control(soft(z_cond, temperature, params.mask))
    (d_log_p,) = torch.autograd.grad(params.log_prob(index), params.alpha)
    (d_c_z,) = torch.autograd.grad(c_z, params.alpha, create_graph=True)
    (d_c_cond,) = torch.autograd.grad(c_cond, params.alpha, create_graph=True)
    estimate = (loss - c_cond) * d_log_p + d_c_z - d_c_cond
    return estimate.detach(), estimate, index, loss


def _gumbel_like(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(like.shape, generator=generator).clamp_(1e-10, 1 - 1e-7)
    return -torch.log(-torch.log(u))


# ----- the estimators ---------------------------------------------------------------------------
class Estimator:
    """One method's alpha-gradient. ``weight_choice`` says what the shared weights train on
    (``("relaxed", weights)`` or ``("discrete", index)``); ``gradient`` gives the alpha-gradient
    on an objective and a few numbers to log. ``state_dict`` holds what persists."""

    name = ""
    needs_relaxation = False  # True: runs the supernet's mixed path (a space's mixed_path)
    derives_top2 = False  # True: the pick is the relaxation's top-2 inputs rule, not the mode

    def weight_choice(self, params: ArchParams, generator: torch.Generator):
        return "discrete", params.sample(generator)

    def gradient(self, params: ArchParams, objective: Objective,
                 generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def bind(self, params: ArchParams) -> None:
        """Build what depends on the number of decisions (RELAX's control variate)."""

    def new_epoch(self, epoch: int, epochs: int) -> None:
        """Per-epoch schedules (SNAS's temperature)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Darts(Estimator):
    """DARTS: the weights train on the softmax mix; the alpha-gradient is that of the mixed
    validation loss. ``order`` 2: the validation loss after one unrolled weight step of size
    ``xi`` (0: the weights' current learning rate), through the objective's
    ``second_order_grad``."""

    name = "darts"
    needs_relaxation = True
    derives_top2 = True  # DARTS's derivation: two distinct strongest inputs per node

    def __init__(self, order: int = 1, xi: float = DARTS_XI):
        self.order = check_int("darts", "order", order, low=1, high=2)
        self.xi = check_float("darts", "xi", xi, low=0.0)

    def weight_choice(self, params, generator):
        return "relaxed", params.probs().detach()

    def gradient(self, params, objective, generator):
        if self.order == 2:
            grad, loss = objective.second_order_grad(params, self.xi)
            return grad, {"alpha_loss": loss}
        loss = objective.relaxed_loss(params.probs())
        (grad,) = torch.autograd.grad(loss, params.alpha)
        return grad, {"alpha_loss": float(loss.detach())}


class Snas(Estimator):
    """SNAS: Gumbel-softmax samples at a temperature annealed exponentially from ``tau_max`` to
    ``tau_min`` over the run; the weights train on one sample, alpha on another's validation
    loss, back-propagated through the relaxation."""

    name = "snas"
    needs_relaxation = True

    def __init__(self, tau_max: float = SNAS_TAU_MAX, tau_min: float = SNAS_TAU_MIN):
        self.tau_max = check_float("snas", "tau_max", tau_max, low=0.0, low_open=True)
        self.tau_min = check_float("snas", "tau_min", tau_min, low=0.0, low_open=True)
        if self.tau_min > self.tau_max:
            raise ConfigError(f"snas.tau_min ({tau_min}) must not exceed snas.tau_max "
                              f"({tau_max}); the temperature anneals from max to min")
        self.tau = self.tau_max

    def new_epoch(self, epoch, epochs):
        frac = epoch / max(1, epochs - 1)
        self.tau = self.tau_max * (self.tau_min / self.tau_max) ** frac

    def weight_choice(self, params, generator):
        return "relaxed", params.relaxed(self.tau, generator).detach()

    def gradient(self, params, objective, generator):
        loss = objective.relaxed_loss(params.relaxed(self.tau, generator))
        (grad,) = torch.autograd.grad(loss, params.alpha)
        return grad, {"alpha_loss": float(loss.detach()), "tau": self.tau}

    def state_dict(self):
        return {"tau": self.tau}

    def load_state_dict(self, state):
        self.tau = float(state["tau"])


class ScoreFunction(Estimator):
    """SF: REINFORCE on the validation loss with a moving-average baseline (decay
    ``baseline_decay``; the first loss starts it)."""

    name = "sf"

    def __init__(self, baseline_decay: float = SF_BASELINE_DECAY):
        self.baseline_decay = check_float("sf", "baseline_decay", baseline_decay, low=0.0,
                                          high=1.0, high_open=True)
        self.baseline: float | None = None

    def gradient(self, params, objective, generator):
        index = params.sample(generator)
        loss = objective.loss(index)
        baseline = loss if self.baseline is None else self.baseline
        grad = score_function_grad(params, index, loss, baseline)
        self.baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * loss
        return grad, {"alpha_loss": loss, "baseline": baseline}

    def state_dict(self):
        return {"baseline": self.baseline}

    def load_state_dict(self, state):
        self.baseline = None if state["baseline"] is None else float(state["baseline"])


class Relax(Estimator):
    """RELAX with an MLP control variate of ``hidden`` units on the relaxed sample at
    ``temperature``, trained by Adam (``lr``) on the squared estimate after every step."""

    name = "relax"

    def __init__(self, hidden: int = RELAX_HIDDEN, lr: float = RELAX_LR,
                 temperature: float = RELAX_TEMPERATURE, seed: int = 0):
        self.hidden = check_int("relax", "hidden", hidden, low=1)
        self.lr = check_float("relax", "lr", lr, low=0.0, low_open=True)
        self.temperature = check_float("relax", "temperature", temperature, low=0.0,
                                       low_open=True)
        self.seed = seed
        self.control: ControlVariate | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.started = False  # the constant starts at the first sampled loss

    def bind(self, params: ArchParams) -> None:
        if self.control is None:
            with seeded_torch(self.seed):  # built on the CPU
                self.control = ControlVariate(params.alpha.numel(), self.hidden)
            self.optimizer = torch.optim.Adam(self.control.parameters(), lr=self.lr)

    def gradient(self, params, objective, generator):
        self.bind(params)
        if not self.started:
            with torch.no_grad():
                self.control.offset.fill_(objective.loss(params.sample(generator)))
            self.started = True
        grad, estimate, _index, loss = relax_grad(params, objective.loss, self.control,
                                                  self.temperature, generator)
        variance = (estimate ** 2).sum()
        self.optimizer.zero_grad(set_to_none=True)
        variance.backward(inputs=list(self.control.parameters()))
        self.optimizer.step()
        return grad, {"alpha_loss": loss, "relax_sq": float(variance.detach())}

    def state_dict(self):
        if self.control is None:
            return {}
        return {"control": self.control.state_dict(), "optimizer": self.optimizer.state_dict(),
                "started": self.started}

    def load_state_dict(self, state):
        if not state:
            return
        if self.control is None:
            raise ConfigError("relax: bind(params) before restoring the control variate")
        self.control.load_state_dict(state["control"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.started = bool(state["started"])


class Ram(Estimator):
    """RAM: per step one sample and ``decisions`` decisions drawn uniformly without
    replacement (all when 0); each is marginalized exactly with the rest of the sample fixed
    (``1 + sum (choices - 1)`` discrete losses per step)."""

    name = "ram"

    def __init__(self, decisions: int = RAM_DECISIONS):
        self.decisions = check_int("ram", "decisions", decisions, low=0)

    def gradient(self, params, objective, generator):
        index = params.sample(generator)
        n = params.n_decisions
        k = n if self.decisions == 0 else min(self.decisions, n)
        chosen = torch.randperm(n, generator=generator)[:k].tolist()
        base = objective.loss(index)
        cache = {tuple(index.tolist()): base}

        def loss_of(other: torch.Tensor) -> float:
            key = tuple(other.tolist())
            if key not in cache:
                cache[key] = objective.loss(other)
            return cache[key]

        grad = ram_grad(params, index, loss_of, chosen)
        return grad, {"alpha_loss": base, "evaluations": len(cache)}


ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (Darts, Snas, ScoreFunction, Relax, Ram)
}
