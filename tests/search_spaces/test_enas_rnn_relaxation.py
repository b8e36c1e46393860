"""enas-rnn's mixed-op path (DARTS's recurrent search on the ENAS highway cell): one-hot tables
run the discrete child through the supernet language model, every weight of a table gets a
gradient, foreign parameters are refused and the derivation is the mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError
from pipelines.oneshot.arch_params import ArchParams
from search_spaces import get_space
from search_spaces.enas_rnn_arch import ACTIVATIONS, RnnArch, RnnNode, loose_ends
from search_spaces.enas_rnn_net import RnnWeights
from search_spaces.enas_rnn_relaxation import RnnRelaxation, act_position, prev_position

VOCAB = 20
HIDDEN = 8  # tiny networks and short segments keep these tests at a few seconds
STEPS, BATCH = 4, 3
N_ARCHS = 5


def one_hot_table(params: ArchParams, arch) -> torch.Tensor:
    return torch.nn.functional.one_hot(params.index_of(arch), params.alpha.shape[1]).float()


def same_weights(a: RnnWeights, b: RnnWeights) -> bool:
    return len(a.acts) == len(b.acts) and len(a.inputs) == len(b.inputs) and all(
        torch.equal(x, y) for x, y in zip(a.acts + a.inputs, b.acts + b.inputs, strict=True))


def chain(space) -> RnnArch:
    """Node k reads node k - 1: a single loose end, every node read but the last."""
    acts = [ACTIVATIONS[k % len(ACTIVATIONS)] for k in range(space.nodes)]
    return RnnArch(tuple(RnnNode(k, act) for k, act in enumerate(acts)))


def two_segments(model, x: torch.Tensor, choice, seed: int) -> list[torch.Tensor]:
    """The logits of two segments from a fresh state (the second from the first's carry), with
    the dropout masks of ``seed``."""
    torch.manual_seed(seed)
    model.reset_state()
    return [model(x, choice), model(x.flip(0), choice)]


@pytest.mark.parametrize("name, exact", [("enas-rnn:nodes=3", True), ("enas-rnn:nodes=5", False),
                                         ("enas-rnn", False)])
def test_a_one_hot_table_runs_the_discrete_cell_in_eval_and_training_mode(name, exact):
    space = get_space(name)
    params = ArchParams(space)
    relaxation = space.relaxation(params)
    torch.manual_seed(0)
    model = space.build_lm_supernet(VOCAB, HIDDEN)
    x = torch.randint(VOCAB, (STEPS, BATCH))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(N_ARCHS)] + [chain(space)]
    if space.nodes > 3:  # cells with several loose ends
        assert max(len(loose_ends(a)) for a in archs) > 2
    for arch in archs:
        weights = relaxation.op_weights(one_hot_table(params, arch))
        assert same_weights(weights, RnnWeights.one_hot(arch))
        for train in (False, True):  # training: the same masks from the same seed
            model.train(train)
            with torch.no_grad():
                want = two_segments(model, x, arch, seed=1)
                got = two_segments(model, x, weights, seed=1)
            for a, b in zip(want, got, strict=True):
                # the mean of more than two loose ends sums them in another order (a few ulps)
                assert torch.equal(a, b) if exact else torch.allclose(a, b, rtol=0, atol=1e-6)


def test_the_mixed_cell_mixes_activations_edges_and_unread_nodes_by_their_weights():
    """Two nodes by hand, activations mixed by random weights: node 2 reads node 1 with weight
    1 (the output is node 2 alone: u_1 = 1 - p_21 = 0), then 0.5 (u_1 = 0.5, s_2 = 0.5 e_21)."""
    space = get_space("enas-rnn:nodes=2")
    torch.manual_seed(0)
    model = space.build_lm_supernet(VOCAB, HIDDEN).eval()
    cell = model.cell
    a1, a2 = torch.softmax(torch.randn(4), 0), torch.softmax(torch.randn(4), 0)
    weights = RnnWeights((a1, a2), (torch.tensor([1.0]),))
    x, h = torch.randn(1, BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    fns = [torch.tanh, torch.relu, lambda v: v, torch.sigmoid]
    with torch.no_grad():
        c, v = (cell.w_x(x[0]) + cell.w_h(h)).chunk(2, -1)
        c = torch.sigmoid(c)
        s1 = c * sum(w * f(v) for w, f in zip(a1, fns, strict=True)) + (1 - c) * h
        c, v = cell.edges["2_1"](s1).chunk(2, -1)
        c = torch.sigmoid(c)
        s2 = c * sum(w * f(v) for w, f in zip(a2, fns, strict=True)) + (1 - c) * s1
        torch.testing.assert_close(cell(x, h, weights)[1], s2)  # node 1 is read: weight 0
        half = RnnWeights((a1, a2), (torch.tensor([0.5]),))
        torch.testing.assert_close(cell(x, h, half)[1], (0.5 * s1 + 0.5 * s2) / 1.5)


def test_every_valid_entry_of_a_uniform_table_gets_a_gradient_and_no_other():
    space = get_space("enas-rnn:nodes=6")  # more inputs than activations: both kinds padded
    params = ArchParams(space)
    table = params.probs().detach().clone().requires_grad_(True)
    torch.manual_seed(0)
    model = space.build_lm_supernet(VOCAB, HIDDEN)
    x = torch.randint(VOCAB, (STEPS, BATCH))
    logits = model(x, space.relaxation(params).op_weights(table))
    torch.nn.functional.cross_entropy(logits, torch.randint(VOCAB, (STEPS * BATCH,))).backward()
    assert (table.grad[params.mask] != 0).all()
    assert (table.grad[~params.mask] == 0).all()


def test_parameters_of_another_space_or_layout_are_a_one_line_config_error():
    space = get_space("enas-rnn:nodes=4")
    for other in ("enas-rnn:nodes=3", "enas-rnn:nodes=5"):
        with pytest.raises(ConfigError, match="build the parameters from this space") as err:
            space.relaxation(ArchParams(get_space(other)))
        assert "\n" not in str(err.value)
    params = ArchParams(space)
    swapped = list(params.choices)  # node 3's input and activation decisions swapped
    swapped[prev_position(3)], swapped[act_position(3)] = (swapped[act_position(3)],
                                                           swapped[prev_position(3)])
    with pytest.raises(ConfigError, match=r"node 3's activation are \['node1', 'node2'\]"):
        RnnRelaxation(space, ArchParams(space, swapped))
    short = list(params.choices)
    short[prev_position(4)] = short[prev_position(3)]  # node 4 may not read node 3
    with pytest.raises(ConfigError, match=r"node 4's input are \['node1', 'node2'\], not nodes"):
        RnnRelaxation(space, ArchParams(space, short))


def test_choices_in_another_order_are_read_by_name():
    space = get_space("enas-rnn:nodes=3")
    params = ArchParams(space, [tuple(reversed(c)) for c in ArchParams(space).choices])
    arch = space.sample(np.random.default_rng(3))
    table = torch.nn.functional.one_hot(params.index_of(arch), params.alpha.shape[1]).float()
    assert same_weights(space.relaxation(params).op_weights(table), RnnWeights.one_hot(arch))


def test_derive_top2_is_the_mode_of_every_decision():
    space = get_space("enas-rnn:nodes=4")
    params = ArchParams(space)
    arch = space.sample(np.random.default_rng(5))
    with torch.no_grad():
        params.alpha.normal_(generator=torch.Generator().manual_seed(0))
        params.alpha[torch.arange(params.n_decisions), params.index_of(arch)] += 10.0
    top2 = space.relaxation(params).derive_top2()
    assert top2 == params.derive() == arch


def test_the_space_declares_its_mixed_path_and_a_cell_refuses_weights_of_another_size():
    space = get_space("enas-rnn:nodes=4")
    assert space.mixed_path is True
    small = RnnWeights.one_hot(get_space("enas-rnn:nodes=3").sample(np.random.default_rng(0)))
    model = space.build_lm_supernet(VOCAB, HIDDEN)
    with pytest.raises(ConfigError, match="supernet cell has 4 nodes, the weights 3"):
        model(torch.zeros(2, 1, dtype=torch.long), small)
