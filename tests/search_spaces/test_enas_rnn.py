"""enas-rnn: grammar, string form, the tree equivalence, the highway cell, the supernet cell
against a child cell with the same weights, and the word-level language model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import BuildableLM, get_space, offering
from search_spaces.enas_rnn import EnasRnnSpace
from search_spaces.enas_rnn_arch import ACTIVATIONS, RnnArch, RnnNode, loose_ends
from search_spaces.enas_rnn_net import EnasRnnCell, lstm_lm, resolve_dropouts

VOCAB = 30
HIDDEN = 12  # tiny networks keep the suite fast on a shared CPU
NO_DROPOUT = {name: 0.0 for name in resolve_dropouts()}


@pytest.fixture(scope="module")
def space() -> EnasRnnSpace:
    return get_space("enas-rnn:nodes=4")


def arch(*nodes: str) -> RnnArch:
    """``arch("tanh", "1 relu", ...)``: nodes as the string form writes them."""
    out = []
    for k, text in enumerate(nodes):
        fields = text.split()
        out.append(RnnNode(0, fields[0]) if k == 0 else RnnNode(int(fields[0]), fields[1]))
    return RnnArch(tuple(out))


# two leaves (2 and 4) under different branches of node 1
EXAMPLE = arch("tanh", "1 relu", "1 sigmoid", "3 identity")


# ----- grammar, forms, options ---------------------------------------------------------------
def test_tokens_are_node_1s_activation_then_prev_and_activation_per_node(space):
    assert space.length == 7 and space.vocab == ("node1", "node2", "node3") + ACTIVATIONS
    names = [space.vocab[t] for t in space.valid_tokens(())]
    assert names == list(ACTIVATIONS)
    assert [space.vocab[t] for t in space.valid_tokens((3,))] == ["node1"]  # node 2 reads 1
    assert [space.vocab[t] for t in space.valid_tokens((3, 0, 3, 0, 3))] == ["node1", "node2",
                                                                            "node3"]
    assert space.to_tokens(EXAMPLE) == (3, 0, 4, 0, 6, 2, 5)


def test_string_form_reads_as_the_papers_cell_and_round_trips(space):
    text = "tanh | 1 relu | 1 sigmoid | 3 identity"
    assert space.to_string(EXAMPLE) == text and space.from_string(text) == EXAMPLE
    assert space.from_string("  tanh|1 relu |1   sigmoid| 3 identity ") == EXAMPLE


@pytest.mark.parametrize("text, position, expected", [
    ("tanh | 2 relu | 1 sigmoid | 3 identity", 1, "1"),  # node 2 may read only node 1
    ("tanh | 1 relu | 1 sigmoid | 4 identity", 5, "1, 2, 3"),  # no node reads itself
    ("softmax | 1 relu | 1 sigmoid | 3 identity", 0, ", ".join(ACTIVATIONS)),
    ("tanh | 1 relu | 1 sigmoid", 5, "PREV ACT"),  # a node short
    ("tanh | 1 relu | 1 sigmoid | 3 identity | 4 tanh", 7, "end of input"),
    ("1 tanh | 1 relu | 1 sigmoid | 3 identity", 0, "ACT"),
])
def test_a_bad_string_names_the_token_position_and_what_it_takes(space, text, position,
                                                                  expected):
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_string(text)
    assert info.value.position == position and info.value.expected == expected
    assert "\n" not in str(info.value) and space.name in str(info.value)


def test_nodes_option_and_its_errors():
    assert get_space("enas-rnn").nodes == 8 and get_space("enas-rnn").name == "enas-rnn:nodes=8"
    assert get_space("enas-rnn:nodes=3").length == 5
    for bad in ("enas-rnn:nodes=1", "enas-rnn:nodes=x", "enas-rnn:layers=3", "enas-rnn:",
                "enas-rnn:nodes=99", "enas-rnn:nodes=04"):  # one name per space
        with pytest.raises(ConfigError, match="enas-rnn"):
            get_space(bad)
    assert "enas-rnn:nodes=8" in offering(BuildableLM)


@pytest.mark.parametrize("bad", ["nodes=a", "nodes=1.5", "nodes=1_0", "nodes=+5",
                                 "nodes=\u0663", "nodes=-1", "nodes=0", "nodes=99999999",
                                 "nodes=" + "9" * 5000, "nodes=", "nodes", "", "=", "4",
                                 "bogus=1", "nodes=3,nodes=4"])
def test_non_integer_negative_zero_huge_empty_or_unknown_options_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as info:
        get_space(f"enas-rnn:{bad}")
    message = str(info.value)
    assert message.startswith("enas-rnn") and "enas-rnn:nodes=" in message
    assert "\n" not in message and len(message) < 300


# ----- the tree equivalence ------------------------------------------------------------------
def test_renumbering_the_tree_keeps_the_canonical_key_and_a_changed_tree_does_not(space):
    swapped = arch("tanh", "1 sigmoid", "2 identity", "1 relu")  # EXAMPLE's nodes 2,3,4 as 4,2,3
    assert space.to_tokens(swapped) != space.to_tokens(EXAMPLE)
    assert space.canonical(swapped) == space.canonical(EXAMPLE)
    for other in (arch("tanh", "1 relu", "1 sigmoid", "2 identity"),  # identity under relu
                  arch("tanh", "1 relu", "1 sigmoid", "3 tanh")):
        assert space.canonical(other) != space.canonical(EXAMPLE)


def test_symmetries_are_every_renumbering_of_a_small_tree(space):
    variants = space.symmetries(EXAMPLE)
    # node 1's subtrees {relu} and {sigmoid -> identity}: 3 parent-first orders of 2, 3, 4
    assert variants[0] == EXAMPLE and len(variants) == 3
    assert {space.canonical(v) for v in variants} == {space.canonical(EXAMPLE)}
    chain = arch("tanh", "1 relu", "2 relu", "3 relu")
    assert space.symmetries(chain) == [chain]


# ----- the cell ----------------------------------------------------------------------------
def test_the_cell_is_enas_highway_recurrence_averaging_the_loose_ends():
    """One step by hand: node 1 from x and h, node k from its input, h_t the mean of leaves."""
    torch.manual_seed(0)
    cell = EnasRnnCell(EXAMPLE, HIDDEN, HIDDEN).eval()
    x, h = torch.randn(1, 2, HIDDEN), torch.randn(2, HIDDEN)

    def highway(gates, act, prev):
        c, v = gates.chunk(2, -1)
        c = torch.sigmoid(c)
        return c * act(v) + (1 - c) * prev

    s1 = highway(cell.w_x(x[0]) + cell.w_h(h), torch.tanh, h)
    s2 = highway(cell.edges["2_1"](s1), torch.relu, s1)
    s3 = highway(cell.edges["3_1"](s1), torch.sigmoid, s1)
    s4 = highway(cell.edges["4_3"](s3), lambda v: v, s3)
    assert loose_ends(EXAMPLE) == (2, 4)
    out, last = cell(x, h)
    torch.testing.assert_close(last, (s2 + s4) / 2)
    torch.testing.assert_close(out[0], last)


def test_supernet_with_a_fixed_arch_computes_the_child_cell_with_the_same_weights(space):
    torch.manual_seed(1)
    supernet = space.build_lm_supernet(VOCAB, HIDDEN, {"dropoute": 0.1})
    child = space.build_lm(EXAMPLE, VOCAB, HIDDEN, {"dropoute": 0.1}).load_shared(supernet)
    assert set(child.state_dict()) < set(supernet.state_dict())
    assert {n for n in child.state_dict() if ".edges." in n} == {
        f"cell.edges.{e}.weight" for e in ("2_1", "3_1", "4_3")}
    x = torch.randint(VOCAB, (5, 3))
    for train in (False, True):  # evaluation, and training with the same dropout masks
        supernet.train(train), child.train(train)
        torch.manual_seed(2)
        want = supernet.step(x, None, EXAMPLE)[0]
        torch.manual_seed(2)
        torch.testing.assert_close(child.step(x)[0], want)
    other = arch("relu", "1 relu", "2 relu", "3 relu")
    assert not torch.allclose(supernet.eval().step(x, None, other)[0], want)


def test_networks_refuse_an_architecture_of_another_size(space):
    small = get_space("enas-rnn:nodes=3").sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitectureError):
        space.build_lm(small, VOCAB, HIDDEN)
    with pytest.raises(ConfigError, match="supernet cell has 4 nodes"):
        space.build_lm_supernet(VOCAB, HIDDEN)(torch.zeros(2, 1, dtype=torch.long), small)


def test_dropout_names_and_rates_are_checked():
    with pytest.raises(ConfigError, match="unknown dropout"):
        resolve_dropouts({"dropoutz": 0.1})
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        resolve_dropouts({"dropout": 1.0})


# ----- the language model --------------------------------------------------------------------
def test_lm_gives_flat_next_word_logits_with_the_softmax_tied_to_the_embedding(space):
    lm = space.build_lm(EXAMPLE, VOCAB, HIDDEN)
    assert lm.decoder.weight is lm.encoder.weight
    assert lm(torch.randint(VOCAB, (7, 3))).shape == (7 * 3, VOCAB)
    baseline = lstm_lm(VOCAB, HIDDEN)
    assert baseline(torch.randint(VOCAB, (7, 3))).shape == (7 * 3, VOCAB)


@pytest.mark.parametrize("kind", ["cell", "lstm"])
def test_hidden_state_carries_over_from_one_segment_to_the_next(space, kind):
    torch.manual_seed(3)
    lm = (space.build_lm(EXAMPLE, VOCAB, HIDDEN) if kind == "cell"
          else lstm_lm(VOCAB, HIDDEN)).eval()
    text = torch.randint(VOCAB, (10, 2))
    whole = lm.step(text)[0]
    first, second = lm(text[:6]), lm(text[6:])  # two BPTT segments
    torch.testing.assert_close(torch.cat([first, second]), whole)
    lm.train()
    lm(text[:3])  # training keeps its own carry; evaluation's is untouched
    lm.eval()
    lm.reset_state()
    torch.testing.assert_close(lm(text[:6]), first)
    assert not torch.allclose(lm(text[:6]), first)  # now from the state after text[:6]
    torch.testing.assert_close(lm(text[:6, :1]), lm.step(text[:6, :1])[0])  # new batch size


def test_same_seed_same_model_and_same_training_step(space):
    def one_step(seed: int) -> tuple[torch.Tensor, float]:
        torch.manual_seed(seed)
        lm = space.build_lm_supernet(VOCAB, HIDDEN)
        x, y = torch.randint(VOCAB, (6, 2)), torch.randint(VOCAB, (12,))
        loss = torch.nn.functional.cross_entropy(lm(x, EXAMPLE), y)
        loss.backward()
        return lm.encoder.weight.grad.clone(), float(loss.detach())

    grad, loss = one_step(4)
    again, loss_again = one_step(4)
    assert torch.equal(grad, again) and loss == loss_again
    assert one_step(5)[1] != loss
