"""What only the enas-macro space does: ENAS's layer-by-layer token grammar, the op restriction
of the poisoning study and its spelling, positional errors that name the layer, and the supernet
and child networks (shared weights, only the chosen path computed, reductions at fixed depths).
The generic round trips, masks and fuzzing are in test_space_contract.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space
from search_spaces.enas_macro_arch import OPS, Layer, MacroArch, reduction_points

ARCH4 = "conv3 | sep5 1 | max 0 1 | avg 1 0 1"


@pytest.fixture(scope="module")
def four():
    return get_space("enas-macro:layers=4")


def test_each_layer_is_its_op_token_then_one_skip_bit_per_node_before_its_input(four):
    arch = four.from_string(ARCH4)
    assert arch == MacroArch((Layer("conv3", ()), Layer("sep5", (1,)), Layer("max", (0, 1)),
                              Layer("avg", (1, 0, 1))))
    zero, one = four.vocab.index("0"), four.vocab.index("1")
    assert four.to_tokens(arch) == (OPS.index("conv3"), OPS.index("sep5"), one,
                                    OPS.index("max"), zero, one, OPS.index("avg"), one, zero, one)
    full = get_space("enas-macro")
    assert (full.n_layers, full.length) == (12, 12 + 66)  # ENAS: 12 layers, 66 skip bits


def test_the_grammar_offers_ops_at_op_positions_and_bits_elsewhere(four):
    ops = tuple(range(len(OPS)))
    bits = (four.vocab.index("0"), four.vocab.index("1"))
    kinds = [four.valid_tokens((0,) * pos) for pos in range(four.length)]
    assert kinds == [ops, ops, bits, ops, bits, bits, ops, bits, bits, bits]
    assert four.valid_tokens((0,) * four.length) == ()


@pytest.mark.parametrize("ops", [("conv5", "sep5", "avg"), ("conv3", "conv5", "max"),
                                 ("conv5", "avg", "max")])
def test_a_restricted_space_never_offers_samples_or_mutates_to_an_op_outside_its_set(ops):
    space = get_space(f"enas-macro:layers=5,ops={'+'.join(ops)}")
    allowed = {OPS.index(op) for op in ops}
    op_positions = [space.layer_start(j) for j in range(1, 6)]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(100):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        for a in (arch, child):
            seen |= {layer.op for layer in a.layers}
        tokens = space.to_tokens(arch)
        for pos in op_positions:
            assert set(space.valid_tokens(tokens[:pos])) == allowed
    assert seen == set(ops)


def test_options_spell_the_op_set_with_plus_or_commas_in_any_order_and_name_it_one_way():
    a = get_space("enas-macro:layers=6,ops=avg+sep5+conv5")
    b = get_space("enas-macro:ops=conv5,sep5,avg,layers=6")
    assert a.name == b.name == "enas-macro:layers=6,ops=conv5+sep5+avg"
    assert a.ops == b.ops == ("conv5", "sep5", "avg")
    assert get_space(a.name).name == a.name
    assert get_space("enas-macro:ops=" + "+".join(OPS)).name == "enas-macro"
    assert get_space("enas-macro:layers=12").name == "enas-macro"


@pytest.mark.parametrize(("name", "says"), [
    ("enas-macro:ops=conv5+conv7", "unknown op 'conv7'; choose ops from conv3, sep3, conv5, "
                                   "sep5, avg, max"),
    ("enas-macro:ops=conv5,sep7", "unknown op 'sep7'"),
    ("enas-macro:ops=avg+avg", "'avg' is listed twice"),
    ("enas-macro:ops=", "empty op name"),
    ("enas-macro:layers=six", "layers='six' is not a whole number"),
    ("enas-macro:layers=0", "layers must be a whole number in 1..24"),
    ("enas-macro:layers=25", "layers must be a whole number in 1..24"),
    ("enas-macro:depth=3", "'depth' is not an option"),
    ("enas-macro:layers=3,layers=4", "'layers' is given twice"),
    ("enas-macro:conv5", "'conv5' is not an option"),
    ("enas-macro:", "nothing after ':'"),
    ("enas-macro:layers=1,ops=max", "single architecture"),
])
def test_a_bad_option_is_one_line_saying_what_to_write(name, says):
    with pytest.raises(ConfigError) as info:
        get_space(name)
    message = str(info.value)
    assert says in message and "\n" not in message
    assert "e.g." in message or "choose" in message or "give" in message or "list" in message


@pytest.mark.parametrize("bad", ["layers=a", "layers=1.5", "layers=1_0", "layers=+5",
                                 "layers=\u0663", "layers=-1", "layers=0", "layers=99999999",
                                 "layers=" + "9" * 5000, "layers=", "layers", "", "=",
                                 "bogus=1", "layers=2,layers=3", "ops=", "ops=conv9"])
def test_non_integer_negative_zero_huge_empty_or_unknown_options_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as info:
        get_space(f"enas-macro:{bad}")
    message = str(info.value)
    assert message.startswith("enas-macro") and "enas-macro:" in message
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize(("text", "position", "where"), [
    ("conv3 | sep5 2 | max 0 1 | avg 1 0 1", 2, "layer 2, skip from the stem"),
    ("conv3 | sep5 1 | max 0 1 | avg 1 0 x", 9, "layer 4, skip from layer 2"),
    ("conv3 | sep5 1 | pool 0 1 | avg 1 0 1", 3, "layer 3, op"),
    ("conv3 | sep5 1 | max 0 | avg 1 0 1", 5, "layer 3, skip from layer 1"),
    ("conv3 | sep5 1 0 | max 0 1 | avg 1 0 1", 3, "layer 3, op"),
    ("conv3 | sep5 1 | max 0 1", 6, "3 layer(s) separated by '|'; expected 4"),
    ("conv3 | sep5 1 | max 0 1 | avg 1 0 1 | max", 10, "5 layer(s)"),
])
def test_a_bad_string_is_one_line_naming_the_token_and_the_layer(four, text, position, where):
    with pytest.raises(InvalidArchitectureError) as info:
        four.from_string(text)
    assert info.value.position == position
    assert where in str(info.value) and "\n" not in str(info.value)


def test_an_architecture_with_an_op_outside_the_set_is_refused_where_that_op_is():
    poisoned = get_space("enas-macro:layers=4,ops=conv5+sep5+avg")
    with pytest.raises(InvalidArchitectureError) as info:
        poisoned.from_string("conv5 | sep5 1 | max 0 1 | avg 1 0 1")
    assert info.value.position == 3
    assert "expected one of conv5, sep5, avg" in str(info.value)


def test_reductions_come_after_a_third_and_two_thirds_of_the_layers_as_in_enas():
    assert reduction_points(12) == (4, 8)
    assert reduction_points(6) == (2, 4)
    assert reduction_points(3) == (1, 2)
    assert reduction_points(2) == ()


# ----- networks ----------------------------------------------------------------------------
def tiny_nets(space, arch, channels=4, stem_stride=1):
    torch.manual_seed(0)
    supernet = space.build_supernet(channels, 10, 1, 1, stem_stride=stem_stride)
    child = space.build(arch, channels, 10, 1, 1, stem_stride=stem_stride)
    return supernet, child


def test_the_child_loaded_from_the_supernet_computes_what_the_supernet_does_on_its_arch(four):
    arch = four.from_string(ARCH4)
    supernet, child = tiny_nets(four, arch)
    child.load_from_supernet(supernet)
    x = torch.randn(6, 1, 8, 8)
    supernet.train()
    child.train()
    assert torch.allclose(child(x), supernet(x, arch), atol=1e-5)
    other = four.from_string("conv5 | sep3 0 | avg 1 1 | max 0 0 0")
    assert not torch.allclose(supernet(x, other), supernet(x, arch), atol=1e-3)


def test_only_the_chosen_ops_skips_and_reductions_get_gradients_in_the_supernet(four):
    arch = four.from_string(ARCH4)  # reductions after layers 1 and 2
    supernet, child = tiny_nets(four, arch)
    supernet(torch.randn(4, 1, 8, 8), arch).sum().backward()
    child_names = {name for name, _ in child.named_parameters()}
    for name, p in supernet.named_parameters():
        assert (p.grad is not None) == (name in child_names), name
    # the child holds its own op per layer, the skips it picks and the reduced nodes it reads
    assert [list(layer.ops) for layer in child.layers] == [["conv3"], ["sep5"], ["max"], ["avg"]]
    assert sorted(child.layers[3].combine) == ["0", "2", "op"]
    assert sorted(child.reductions["1"]) == ["0", "1"]  # stem and layer 1 are read after it
    sparse = four.from_string("conv3 | sep5 1 | max 0 0 | avg 1 0 1")
    assert sorted(four.build(sparse, 4, 10, 1, 1).reductions["2"]) == ["0", "2"]  # 1 unread
    assert sorted(child.reductions["2"]) == ["0", "1", "2"]  # layers 3 and 4 read them
    assert child.num_params() < sum(p.numel() for p in supernet.parameters())


@pytest.mark.parametrize(("stem_stride", "side"), [(1, 2), (2, 1)])
def test_each_reduction_halves_the_maps_and_doubles_the_channels(stem_stride, side):
    space = get_space("enas-macro:layers=6")
    arch = space.sample(np.random.default_rng(0))
    supernet, child = tiny_nets(space, arch, channels=4, stem_stride=stem_stride)
    shapes = {}
    for net in (supernet, child):
        net.layers[-1].register_forward_hook(
            lambda module, args, out, net=net: shapes.__setitem__(id(net), out.shape))
    x = torch.randn(2, 1, 8, 8)
    assert supernet(x, arch).shape == child(x).shape == (2, 10)
    assert shapes[id(supernet)] == shapes[id(child)] == (2, 16, side, side)


def test_drop_path_drops_skip_connections_in_training_only(four):
    arch = four.from_string(ARCH4)
    _, child = tiny_nets(four, arch)
    x = torch.randn(8, 1, 8, 8)
    child.eval()
    before = child(x)
    child.drop_path_prob = 0.9
    assert torch.equal(child(x), before)  # evaluation never drops
    child.train()
    torch.manual_seed(1)
    dropped = child(x)
    child.drop_path_prob = 0.0
    assert not torch.allclose(dropped, child(x))


def test_the_supernet_refuses_an_architecture_of_another_depth(four):
    supernet, _ = tiny_nets(four, four.from_string(ARCH4))
    five = get_space("enas-macro:layers=5").sample(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="4 layers"):
        supernet(torch.randn(2, 1, 8, 8), five)


def test_a_restricted_supernet_holds_only_its_ops():
    space = get_space("enas-macro:layers=3,ops=conv5+avg+max")
    supernet = space.build_supernet(4, 10, 1, 1)
    assert all(list(layer.ops) == ["conv5", "avg", "max"] for layer in supernet.layers)


# ----- the mixed-op path (DARTS / SNAS train through weights, not one choice) ------------------
def _one_hot_table(space, params, arch) -> torch.Tensor:
    index = torch.tensor([c.index(t) for c, t in zip(params.choices, space.to_tokens(arch),
                                                      strict=True)])
    return torch.nn.functional.one_hot(index, params.alpha.shape[1]).float()


@pytest.mark.parametrize("name", ["enas-macro:layers=4", "enas-macro:layers=6,ops=conv5+sep5+avg"])
def test_a_one_hot_table_through_the_relaxation_computes_exactly_its_architecture(name):
    from pipelines.oneshot.arch_params import ArchParams

    space = get_space(name)
    params = ArchParams(space)
    relaxation = space.relaxation(params)
    supernet = space.build_supernet(4, 10, 1, 1)
    torch.manual_seed(0)
    x = torch.randn(8, 1, 8, 8)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(6)]
    assert any(any(layer.skips) for a in archs for layer in a.layers)  # skips taken and not
    for arch in archs:
        mixed = supernet(x, relaxation.op_weights(_one_hot_table(space, params, arch)))
        assert torch.equal(supernet(x, arch), mixed)


def test_every_op_weight_and_skip_weight_gets_a_gradient_through_the_mix():
    from pipelines.oneshot.arch_params import ArchParams

    space = get_space("enas-macro:layers=4")
    params = ArchParams(space)
    table = params.probs().detach().clone().requires_grad_(True)
    torch.manual_seed(0)
    supernet = space.build_supernet(4, 10, 1, 1)
    supernet(torch.randn(8, 1, 8, 8), space.relaxation(params).op_weights(table)).sum().backward()
    ones = space.vocab.index("1")
    for j in range(1, 5):
        start = space.layer_start(j)
        assert (table.grad[start, :len(OPS)] != 0).all()  # every op of the layer
        for row in range(start + 1, start + j):  # the weight of each skip bit 1
            assert table.grad[row, params.choices[row].index(ones)] != 0


def test_a_mixed_layer_is_the_weighted_sum_of_its_ops_and_mixes_its_two_forms_by_the_skips():
    from search_spaces.enas_macro_net import MacroLayer

    torch.manual_seed(0)
    layer = MacroLayer(4, OPS, sources=[0], affine=False).eval()
    x, stem = torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)
    w = torch.softmax(torch.randn(len(OPS)), 0)
    with torch.no_grad():
        ops_sum = sum(wk * layer.ops[op](x) for wk, op in zip(w, OPS, strict=True))
        alone = layer.mixed(x, [stem, x], w, torch.tensor([0.0]))
        combined = layer.bn(layer.combine["op"](torch.relu(ops_sum))
                            + 0.3 * layer.combine["0"](torch.relu(stem)))
        half = layer.mixed(x, [stem, x], w, torch.tensor([0.3]))
    assert torch.allclose(alone, ops_sum, atol=1e-6)
    assert torch.allclose(half, 0.7 * ops_sum + 0.3 * combined, atol=1e-6)
