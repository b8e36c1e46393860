"""``NAO.propose`` computes the encoder outputs and the gradient once and decodes several step
sizes per batch; it must propose exactly what the plain algorithm (re-encode, re-differentiate
and decode all seeds at every step size, one step at a time) proposes, in the same order, so a
seeded search finds the same architectures either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nao import NAO
from nao.model import pool
from pipelines.search.predictor_eval import sample_distinct

SMALL = {"embedding_size": 16, "hidden_size": 32, "mlp_hidden_size": 64, "epochs": 40,
         "patience": None, "max_symmetries": 2}


def reference_propose(est: NAO, seeds, n: int, exclude=()) -> list:
    """The propose algorithm written plainly: for each step size, run the encoder and the
    predictor's gradient again, then decode every seed."""
    space, model = est.space, est.model_
    seen = set(est.train_keys_) | {space.canonical(a) for a in seeds} | set(exclude)
    tokens = torch.tensor([space.to_tokens(a) for a in seeds], dtype=torch.long)
    found: list = []
    step = est.step_size
    while len(found) < n and step <= est.max_step_size and seeds:
        outputs, _ = model.encoder(tokens)
        outputs = outputs.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.predictor(pool(outputs)).sum(), outputs)
        moved = F.normalize(outputs + step * grad, p=2, dim=-1).detach()
        for arch in est.decode(pool(moved), moved):
            key = space.canonical(arch)
            if key not in seen:
                seen.add(key)
                found.append(arch)
                if len(found) >= n:
                    break
        step += est.step_size
    return found


@pytest.fixture(scope="module")
def small(cora, cora_sample):
    archs, y = cora_sample
    return NAO(cora, random_state=1, **SMALL).fit(archs, y)


def best_first(cora_sample, k: int) -> list:
    archs, y = cora_sample
    return [archs[i] for i in np.argsort(-y, kind="stable")[:k]]


@pytest.mark.parametrize("n_seeds, n", [(1, 1), (5, 3), (20, 30), (60, 40)])
def test_propose_matches_the_one_step_at_a_time_algorithm(cora, cora_sample, small,
                                                          n_seeds, n):
    seeds = best_first(cora_sample, n_seeds)
    fast = small.propose(seeds, n)
    assert fast, "nothing proposed: the comparison would be empty"
    assert [cora.to_string(a) for a in fast] == \
        [cora.to_string(a) for a in reference_propose(small, seeds, n)]


def test_propose_matches_it_when_every_step_size_is_needed(cora, cora_sample, small):
    """Asking for more than the steps can find runs through every step size to
    ``max_step_size`` (many decoding batches), with fractional, accumulated step sizes."""
    small_steps = NAO(cora, **{**SMALL, "step_size": 0.7, "max_step_size": 40.0})
    small_steps.__dict__.update({k: v for k, v in small.__dict__.items() if k.endswith("_")})
    seeds = best_first(cora_sample, 20)
    expected = reference_propose(small_steps, seeds, 500)
    # the search ran out of step sizes (57 of them), not of wanted proposals
    assert 10 < len(expected) < 500
    assert [cora.to_string(a) for a in small_steps.propose(seeds, 500)] == \
        [cora.to_string(a) for a in expected]


def test_propose_matches_it_with_unseen_seeds_and_an_exclude_set(cora, cora_sample, small):
    archs, _ = cora_sample
    seeds = sample_distinct(cora, 12, np.random.default_rng(7))
    exclude = {cora.canonical(a) for a in reference_propose(small, seeds, 4)}
    fast = small.propose(seeds, 10, exclude=exclude)
    assert not exclude & {cora.canonical(a) for a in fast}
    assert [cora.to_string(a) for a in fast] == \
        [cora.to_string(a) for a in reference_propose(small, seeds, 10, exclude)]


def test_propose_works_inside_no_grad(cora_sample, small):
    """The gradient step needs autograd even when the caller turned it off."""
    seeds = best_first(cora_sample, 5)
    with torch.no_grad():
        inside = small.propose(seeds, 5)
    assert inside == small.propose(seeds, 5)


def test_propose_of_nothing_is_empty(cora_sample, small):
    assert small.propose([], 5) == []
    assert small.propose(best_first(cora_sample, 5), 0) == []
