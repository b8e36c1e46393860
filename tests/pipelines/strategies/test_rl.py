"""The ENAS-style controller: valid samples only, REINFORCE learns, a seed fixes the search."""

from __future__ import annotations

import numpy as np
import pytest

from nao.errors import ConfigError
from pipelines.strategies import make_strategy
from pipelines.strategies.rl import RLController
from search_spaces import get_space

TARGET_OP = "gcn"  # toy reward: 1 when the first node's op is this, else 0
TOY_LR = 0.01
TOY_ROUNDS = 30


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench-graph:cora")


@pytest.mark.parametrize("name", ["nasbench-graph:cora", "nasbench-graph:proteins",
                                  "enas-micro"])
def test_controller_never_emits_an_invalid_architecture(name):
    """The raw token sequences the controller samples, before ask() drops any the space
    rejects, hold only tokens the grammar allows after their prefix, and the space accepts them
    whole, while the policy learns over several rounds."""
    space = get_space(name)
    controller = RLController(space, random_state=0, temperature=1.0, tanh_constant=None)
    raw: list[list[int]] = []
    sample = controller.policy_.sample

    def recording_sample(*args, **kwargs):
        rows = sample(*args, **kwargs)
        raw.extend(rows)
        return rows

    controller.policy_.sample = recording_sample
    for _ in range(5):
        archs = controller.ask(50)
        # toy reward: the share of tokens with id 0, so that the policy moves
        controller.tell(archs, [float(np.mean(np.array(space.to_tokens(a)) == 0)) for a in archs])
    assert len(raw) >= 5 * 50
    for row in raw:
        assert len(row) == space.length
        for pos, token in enumerate(row):
            assert space.valid_mask(row[:pos])[token], (row, pos)
        space.from_tokens(row)  # raises on anything the grammar rejects as a whole
    assert controller.n_random_fill == 0  # everything came from the controller itself


def test_ask_is_distinct_and_never_repeats_a_told_architecture(space):
    controller = RLController(space, random_state=1)
    told: set = set()
    for _ in range(5):
        archs = controller.ask(20)
        keys = [space.canonical(a) for a in archs]
        assert len(archs) == 20 and len(set(keys)) == 20
        assert not told & set(keys)
        told |= set(keys)
        controller.tell(archs, [space.lookup(a).valid for a in archs])


def _train(controller, reward, rounds):
    for _ in range(rounds):
        archs = controller.ask(controller.ask_size)
        controller.tell(archs, [reward(a) for a in archs])


def test_reinforce_raises_probability_of_the_rewarded_first_op(space):
    # lr above ENAS's 3.5e-4 so that a few updates show the effect (ENAS ran thousands)
    controller = RLController(space, random_state=0, lr=TOY_LR)
    target = space.from_string(f"0,0,0,0:{TARGET_OP},gat,gat,gat")
    first_op = 1  # token position of node 0's op
    before = np.exp(controller.token_log_probs([target])[0, first_op])
    _train(controller, lambda a: float(a.ops[0] == TARGET_OP), TOY_ROUNDS)
    after = np.exp(controller.token_log_probs([target])[0, first_op])
    assert controller.n_updates == TOY_ROUNDS
    assert before < 1.5 / len(space.ops)  # about uniform at the start
    assert after > 0.5


def test_reinforce_raises_log_prob_of_a_target_architecture(space):
    controller = RLController(space, random_state=1, lr=TOY_LR)
    target = space.from_string("0,1,2,3:gcn,sage,arma,fc")
    target_tokens = space.to_tokens(target)

    def agreement(arch) -> float:  # dense toy reward: share of tokens equal to the target's
        return float(np.mean(np.equal(space.to_tokens(arch), target_tokens)))

    before = controller.token_log_probs([target]).sum()
    _train(controller, agreement, TOY_ROUNDS)
    after = controller.token_log_probs([target]).sum()
    assert after - before > np.log(100)  # a hundred times as likely to be sampled


def _recorded_advantages(controller) -> list[np.ndarray]:
    seen: list[np.ndarray] = []
    advantages = controller._advantages

    def recording(scores):
        out = advantages(scores)
        seen.append(np.array(out))
        return out

    controller._advantages = recording
    return seen


@pytest.mark.parametrize("scaling", ["none", "std"])
def test_each_advantage_uses_the_baseline_from_before_its_score(space, scaling):
    """b starts at the first batch's mean; score i gets r_i - b, then b = d b + (1 - d) r_i
    (d = 0.5); ``std`` divides by the spread of every score told so far."""
    controller = RLController(space, random_state=0, baseline_decay=0.5, reward_scaling=scaling)
    seen = _recorded_advantages(controller)
    controller.tell(controller.ask(3), [1.0, 3.0, 2.0])
    # b = 2: 1 - 2, then b = 1.5: 3 - 1.5, then b = 2.25: 2 - 2.25, then b = 2.125
    first = np.array([-1.0, 1.5, -0.25])
    assert controller.baseline_ == pytest.approx(2.125)
    controller.tell(controller.ask(1), [4.0])
    second = np.array([4.0 - 2.125])
    assert controller.baseline_ == pytest.approx(0.5 * 2.125 + 0.5 * 4.0)
    if scaling == "std":
        first, second = first / np.std([1.0, 3.0, 2.0]), second / np.std([1.0, 3.0, 2.0, 4.0])
    np.testing.assert_allclose(seen[0], first)
    np.testing.assert_allclose(seen[1], second)


@pytest.mark.parametrize("entropy_weight", [0.0, 1.0])
def test_the_entropy_bonus_raises_the_policys_entropy(space, entropy_weight):
    """With every score equal (no advantage) the only force on the policy is the bonus: it
    raises the entropy along the sampled sequences, and without it nothing moves. (A peaked
    policy, temperature 0.1, so that there is entropy to gain.)"""
    import torch

    controller = RLController(space, random_state=0, lr=3e-3, entropy_weight=entropy_weight,
                              temperature=0.1, tanh_constant=None)
    archs = controller.ask(8)
    tokens = torch.tensor([space.to_tokens(a) for a in archs])
    masks = controller._masks(tokens.tolist())
    with torch.no_grad():
        before = controller.policy_.log_prob_entropy(tokens, masks)[1].mean().item()
    controller.tell(archs, [0.5] * len(archs))
    with torch.no_grad():
        after = controller.policy_.log_prob_entropy(tokens, masks)[1].mean().item()
    if entropy_weight:
        assert after > before + 0.1
    else:
        assert after == pytest.approx(before, abs=1e-7)


@pytest.mark.parametrize("option", [{"lr": 0}, {"baseline_decay": 1.0}, {"batch_size": 0},
                                    {"reward_scaling": "rank"}])
def test_bad_options_are_config_errors(space, option):
    with pytest.raises(ConfigError):
        make_strategy("rl", space, random_state=0, **option)
