"""Architecture parameters of the relaxed methods (DARTS, SNAS, SF, RELAX, RAM): logits ``alpha``,
one categorical distribution per decision of a space.

A decision is one token position of the space whose valid tokens do not depend on the earlier
ones (enas-micro: each node's two inputs and two ops, in both cells; node ``i`` chooses among
``i + 2`` inputs). The logits are one ``(decisions, max choices)`` tensor; choices a decision does
not have are masked out (probability 0). A hard sample is a vector of choice indices, one per
decision; :meth:`ArchParams.to_arch` turns it into the space's architecture through its tokens,
so the space checks every architecture made here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nao.errors import ConfigError
from search_spaces.base import Arch, SearchSpace

PROBE_SAMPLES = 8  # sampled prefixes on which a space's choices are checked to be fixed
NEG_INF = float("-inf")


def decision_choices(space: SearchSpace, probes: int = PROBE_SAMPLES) -> list[tuple[int, ...]]:
    """The valid tokens of every position; a :class:`ConfigError` when they depend on the
    earlier tokens (checked on ``probes`` sampled architectures), since one categorical per
    position then cannot describe the space."""
    rng = np.random.default_rng(0)
    tokens = [space.to_tokens(space.sample(rng)) for _ in range(probes)]
    choices = []
    for pos in range(space.length):
        valid = tuple(space.valid_tokens(tokens[0][:pos]))
        if any(tuple(space.valid_tokens(t[:pos])) != valid for t in tokens[1:]):
            raise ConfigError(f"space {space.name}: the choices at {pos} depend on the earlier "
                              "tokens; the relaxed controllers (darts, snas, sf, relax, ram) need "
                              "a space with a fixed choice set per position, e.g. enas-micro")
        choices.append(valid)
    return choices


def gumbel(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise from ``generator``."""
    u = torch.rand(tuple(shape), generator=generator).clamp_(1e-10, 1 - 1e-7)
    return -torch.log(-torch.log(u))


class ArchParams(nn.Module):
    """``alpha``: ``(decisions, max choices)`` logits (0 at start: uniform); ``choices[d]`` the
    space's tokens decision ``d`` chooses among. Everything random takes a ``generator``."""

    def __init__(self, space: SearchSpace, choices: Sequence[Sequence[int]] | None = None):
        super().__init__()
        self.space = space
        self.choices = [tuple(c) for c in (choices or decision_choices(space))]
        sizes = [len(c) for c in self.choices]
        if not sizes or min(sizes) < 1:
            raise ConfigError(f"space {space.name}: every decision needs at least one choice")
        self.alpha = nn.Parameter(torch.zeros(len(sizes), max(sizes)))
        mask = torch.arange(max(sizes))[None, :] < torch.tensor(sizes)[:, None]
        self.register_buffer("mask", mask, persistent=False)

    @property
    def n_decisions(self) -> int:
        return len(self.choices)

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.choices]

    # ----- the distribution -------------------------------------------------------------------
    def masked(self, logits: torch.Tensor | None = None) -> torch.Tensor:
        """``logits`` (default ``alpha``) with the missing choices at -inf."""
        logits = self.alpha if logits is None else logits
        return logits.masked_fill(~self.mask, NEG_INF)

    def log_probs(self) -> torch.Tensor:
        """Per decision, the log-probability of each choice (-inf where there is none)."""
        return torch.log_softmax(self.masked(), dim=-1)

    def probs(self) -> torch.Tensor:
        """Per decision, the softmax weights (DARTS's mixing weights)."""
        return torch.softmax(self.masked(), dim=-1)

    def log_prob(self, index: torch.Tensor) -> torch.Tensor:
        """log p(index), summed over the decisions (differentiable in ``alpha``)."""
        return self.log_probs().gather(1, index[:, None]).sum()

    def entropy(self) -> torch.Tensor:
        """Entropy of the architecture distribution in nats: the sum over its independent
        decisions."""
        p = self.probs()
        return -(p * self.log_probs().masked_fill(~self.mask, 0.0)).sum()

    # ----- samples ----------------------------------------------------------------------------
    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """A hard sample: one choice index per decision (Gumbel-max, i.e. exact categorical)."""
        with torch.no_grad():
            return self.perturbed(generator).argmax(-1)

    def perturbed(self, generator: torch.Generator) -> torch.Tensor:
        """``log p + Gumbel`` per choice (-inf where there is none): its argmax is a sample,
        its tempered softmax the Gumbel-softmax relaxation, both differentiable in ``alpha``."""
        return self.log_probs() + gumbel(self.alpha.shape, generator)

    def relaxed(self, temperature: float, generator: torch.Generator) -> torch.Tensor:
        """A Gumbel-softmax sample (SNAS): rows on the simplex, differentiable in ``alpha``."""
        return soft(self.perturbed(generator), temperature, self.mask)

    # ----- architectures ----------------------------------------------------------------------
    def tokens(self, index: torch.Tensor) -> tuple[int, ...]:
        return tuple(self.choices[d][int(k)] for d, k in enumerate(index.tolist()))

    def to_arch(self, index: torch.Tensor) -> Arch:
        """The space's architecture for one choice per decision (checked by the space)."""
        return self.space.from_tokens(self.tokens(index))

    def index_of(self, arch: Arch) -> torch.Tensor:
        """The choice indices of ``arch`` (the inverse of :meth:`to_arch`)."""
        tokens = self.space.to_tokens(arch)
        return torch.tensor([c.index(t) for c, t in zip(self.choices, tokens, strict=True)])

    def argmax(self) -> torch.Tensor:
        """The most probable choice of every decision."""
        with torch.no_grad():
            return self.masked().argmax(-1)

    def derive(self) -> Arch:
        """The most probable architecture: the argmax of every decision (decisions are
        independent, so this is the mode of the distribution)."""
        return self.to_arch(self.argmax())


def soft(scores: torch.Tensor, temperature: float, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise ``softmax(scores / temperature)`` over the choices ``mask`` keeps."""
    return torch.softmax((scores / temperature).masked_fill(~mask, NEG_INF), dim=-1)
