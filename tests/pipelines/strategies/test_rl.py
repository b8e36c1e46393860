"""The ENAS-style controller: valid samples only, REINFORCE learns, a seed fixes the search."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("option, value, accepts", [
    ("hidden_size", 0, "a whole number >= 1 and <= 1024"),
    ("hidden_size", 1025, "a whole number >= 1 and <= 1024"),
    ("lr", 0, "a finite number > 0 and <= 1"),
    ("lr", 1.5, "a finite number > 0 and <= 1"),
    ("baseline_decay", -0.5, "a finite number >= 0 and < 1"),
    ("baseline_decay", 1.0, "a finite number >= 0 and < 1"),
    ("entropy_weight", -1, "a finite number >= 0 and <= 1000"),
    ("entropy_weight", 1001, "a finite number >= 0 and <= 1000"),
    ("temperature", 0, "a finite number >= 0.001"),
    ("tanh_constant", 0, "a finite number > 0 and <= 1000 or null"),
    ("tanh_constant", 1001, "a finite number > 0 and <= 1000 or null"),
    ("reward_scaling", "rank", "one of std, none"),
    ("max_resample_rounds", -1, "a whole number >= 0 and <= 1000"),
    ("max_resample_rounds", 1001, "a whole number >= 0 and <= 1000"),
])
def test_an_option_out_of_range_is_refused_naming_it_and_its_range(space, option, value,
                                                                    accepts):
    message = f"rl strategy: {option} must be {accepts}, got {value!r}"
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_strategy("rl", space, random_state=0, **{option: value})


def test_the_ends_of_each_range_are_accepted(space):
    low = RLController(space, random_state=0, hidden_size=1, lr=1, baseline_decay=0,
                       entropy_weight=0, temperature=0.001, tanh_constant=1000,
                       max_resample_rounds=0)
    assert (low.hidden_size, low.lr, low.baseline_decay, low.entropy_weight, low.temperature,
            low.tanh_constant, low.max_resample_rounds) == (1, 1.0, 0.0, 0.0, 0.001, 1000.0, 0)
    high = RLController(space, random_state=0, hidden_size=1024, entropy_weight=1000,
                        tanh_constant=None, max_resample_rounds=1000)
    assert (high.hidden_size, high.entropy_weight, high.tanh_constant,
            high.max_resample_rounds) == (1024, 1000.0, None, 1000)


def test_twenty_seeds_start_twenty_different_searches(space):
    """A benchmark's seeds are independent searches: no two start from the same policy."""
    firsts = {tuple(space.to_string(a)
                    for a in RLController(space, random_state=seed, hidden_size=8).ask(4))
              for seed in range(20)}
    assert len(firsts) == 20


def test_building_a_controller_leaves_torchs_global_generators_alone(space, monkeypatch):
    reseeded: list = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", reseeded.append)
    before = torch.get_rng_state()
    RLController(space, random_state=0, hidden_size=8)
    assert torch.equal(torch.get_rng_state(), before)
    assert reseeded == []  # no GPU generator reseeded (without a GPU: when CUDA would start)


def test_each_token_is_drawn_given_every_token_before_it(space):
    """Two architectures that differ only in the first op: the next link (whose input is that
    op) and the op after it (which sees it only through the LSTM's memory) get other
    probabilities."""
    controller = RLController(space, random_state=0)
    a = space.from_string("0,0,0,0:gcn,gat,gat,gat")
    b = space.from_string("0,0,0,0:sage,gat,gat,gat")
    log_p = controller.token_log_probs([a, b])
    assert log_p[0, 0] == log_p[1, 0] == 0.0  # the first link has one valid choice
    assert abs(log_p[0, 2] - log_p[1, 2]) > 1e-6
    assert abs(log_p[0, 3] - log_p[1, 3]) > 1e-6


def test_the_entropy_is_the_sum_of_each_positions_entropy(space):
    """A near-uniform policy (a huge temperature) has, along any architecture, the entropy of a
    uniform choice among the valid tokens at each position: the sum of their logs."""
    controller = RLController(space, random_state=0, temperature=1e4, tanh_constant=None)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3)]
    rows = [list(space.to_tokens(a)) for a in archs]
    masks = controller._masks(rows)
    with torch.no_grad():
        _, entropy = controller.policy_.log_prob_entropy(torch.tensor(rows), masks)
    expected = masks.sum(-1).double().log().sum(-1)
    np.testing.assert_allclose(entropy.numpy(), expected.numpy(), rtol=1e-4)


@pytest.mark.parametrize("tanh_constant", [0.1, None])
def test_tanh_constant_caps_how_strongly_the_policy_prefers_a_token(space, tanh_constant):
    """Logits squashed into [-c, c] keep every valid token within a factor e^(2c) of the
    others, however small the temperature; without the squash the policy is all but certain."""
    controller = RLController(space, random_state=0, temperature=0.001,
                              tanh_constant=tanh_constant)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(10)]
    rows = [list(space.to_tokens(a)) for a in archs]
    n_valid = controller._masks(rows).sum(-1).numpy()
    log_p = controller.token_log_probs(archs)
    if tanh_constant is not None:
        assert np.all(log_p >= -np.log(n_valid) - 2 * tanh_constant - 1e-5)
    else:
        assert log_p.min() < -10


def test_integer_scores_teach_the_policy_as_the_same_numbers_as_floats_do(space):
    as_int, as_float = (RLController(space, random_state=4, hidden_size=8) for _ in range(2))
    archs = as_int.ask(4)
    assert [space.to_string(a) for a in as_float.ask(4)] == [space.to_string(a) for a in archs]
    as_int.tell(archs, [1, 0, 0, 1])
    as_float.tell(archs, [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(as_int.token_log_probs(archs), as_float.token_log_probs(archs))


def _recording_policy(controller) -> list[list[list[int]]]:
    """The token rows of each policy draw the controller makes, as it makes them."""
    draws: list[list[list[int]]] = []
    sample = controller.policy_.sample

    def recording(*args, **kwargs):
        draws.append(sample(*args, **kwargs))
        return draws[-1]

    controller.policy_.sample = recording
    return draws


@pytest.mark.parametrize("rounds", [0, 2, 10])
def test_on_a_nearly_exhausted_space_an_ask_gets_exactly_the_untold_architectures(rounds):
    """Sixteen architectures, twelve told: the policy mostly repeats them. Each resample round
    draws only the architectures still missing, at most ``max_resample_rounds`` rounds follow
    the first, and random unseen ones (counted) fill the rest."""
    small = get_space("synthetic:positions=2,choices=4")
    controller = RLController(small, random_state=0, hidden_size=8, max_resample_rounds=rounds)
    everything = {small.canonical(small.from_tokens(t)) for t in np.ndindex(4, 4)}
    controller.tell(archs := controller.ask(12), [0.5] * 12)
    draws = _recording_policy(controller)
    filled_before = controller.n_random_fill
    asked = controller.ask(4)
    keys = [small.canonical(a) for a in asked]
    assert set(keys) == everything - controller.seen and len(keys) == 4
    from_policy: list = []
    for rows in draws:
        assert len(rows) == 4 - len(from_policy)
        for row in rows:
            key = small.canonical(small.from_tokens(row))
            if key not in controller.seen and key not in from_policy:
                from_policy.append(key)
    assert keys[: len(from_policy)] == from_policy
    assert len(draws) <= 1 + rounds
    assert len(draws) == 1 + rounds or len(from_policy) == 4
    assert controller.n_random_fill - filled_before == 4 - len(from_policy)
    restored = RLController(small, random_state=1, hidden_size=8)
    restored.load_state_dict(controller.state_dict())
    assert restored.n_random_fill == controller.n_random_fill
    assert [small.to_string(a) for a in restored.archs] == [small.to_string(a) for a in archs]
