"""nao-cnn: NAO's 11-op cell space trained from scratch, on enas-micro's cell grammar; the new ops
keep or halve the map as the cell needs, a child with every op trains, and enas-micro is
untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space
from search_spaces.cnn_ops import OPS, Pool2x2
from search_spaces.enas_micro import EnasMicroSpace
from search_spaces.enas_micro_arch import MicroArch, Node, unused_nodes
from search_spaces.enas_micro_net import Cell
from search_spaces.nao_cnn import NAO_OPS, NaoCnnSpace

# every op of the space on some branch: the normal cell's 10 branches hold the first 10, the
# reduction cell's the 11th and then all the others again
EVERY_OP = (
    "normal: 0 identity 1 sep_conv_3x3 | 0 sep_conv_5x5 2 avg_pool_3x3 | 1 max_pool_3x3 3 conv_3x3"
    " | 2 conv_1x3_3x1 4 conv_1x7_7x1 | 0 max_pool_2x2 5 avg_pool_2x2 ; reduce: 0 dil_sep_conv_3x3"
    " 1 identity | 0 sep_conv_3x3 1 sep_conv_5x5 | 2 conv_3x3 3 avg_pool_2x2 | 0 max_pool_2x2 4"
    " conv_1x7_7x1 | 1 conv_1x3_3x1 5 max_pool_3x3"
)


def test_the_space_has_the_issues_eleven_ops_each_built_by_cnn_ops():
    space = NaoCnnSpace()
    assert len(NAO_OPS) == 11 and len(set(NAO_OPS)) == 11
    assert set(NAO_OPS) <= set(OPS)
    assert space.vocab[space.n_inputs:] == NAO_OPS and space.length == 40
    arch = space.from_string(EVERY_OP)
    assert {op for cell in arch for node in cell for op in (node.op_a, node.op_b)} == set(NAO_OPS)


def test_enas_micro_keeps_its_five_ops_and_token_vocabulary():
    space = EnasMicroSpace()
    assert space.vocab == ("in0", "in1", "in2", "in3", "in4", "in5", "sep_conv_3x3",
                           "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
    assert space.name == "enas-micro" and space.length == 40
    assert list(OPS)[:5] == ["sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
                             "identity"]
    with pytest.raises(InvalidArchitectureError, match="conv_3x3"):
        space.from_string(EVERY_OP)  # the new ops are not enas-micro's


def _all_branches(op: str, nodes: int = 5) -> tuple[Node, ...]:
    return tuple(Node(0, op, 1 if i == 0 else 1 + i, op) for i in range(nodes))


@pytest.mark.parametrize("op", NAO_OPS)
@pytest.mark.parametrize("reduction", [False, True])
def test_a_cell_of_one_op_keeps_the_map_or_halves_it_and_doubles_channels(op, reduction):
    cell = _all_branches(op)
    channels = 8 if reduction else 4
    module = Cell(4, 4, channels, reduction, False, [[op]] * 10, (0, 1), unused_nodes(cell),
                  affine=True)
    x = torch.randn(2, 4, 7, 6)
    out = module(x, x, cell)
    assert out.shape == ((2, 8, 4, 3) if reduction else (2, 4, 7, 6))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_a_2x2_pool_reads_the_pixel_and_its_right_and_lower_neighbours_inside_the_image(mode):
    x = torch.arange(12.0).reshape(1, 1, 3, 4) ** 1.5
    out = Pool2x2(mode)(x)
    reduce = torch.max if mode == "max" else torch.mean
    expected = torch.tensor([[float(reduce(x[0, 0, i:i + 2, j:j + 2])) for j in range(4)]
                             for i in range(3)])
    assert torch.allclose(out[0, 0], expected)


def test_a_child_with_every_op_trains_one_step_and_every_op_learns():
    torch.manual_seed(0)
    space = get_space("nao-cnn:channels=4")
    net = space.build(space.from_string(EVERY_OP), space.child_channels, 10, space.child_layers, 1)
    assert net.config["channels"] == 4 and net.config["layers"] == 1
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    logits = net(torch.randn(6, 1, 8, 8))
    assert logits.shape == (6, 10)
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 10, (6,))).backward()
    optimizer.step()
    unchanged = [name for name, p in net.named_parameters() if torch.equal(p, before[name])]
    assert not unchanged
    # every parameterised op of the normal cell has weights that moved
    ops = {name.split(".")[4] for name in before if ".branches." in name}
    assert ops == {op for op in NAO_OPS if "conv" in op}


def test_options_set_nodes_and_child_size_and_name_the_space():
    space = get_space("nao-cnn:nodes=3,layers=2")
    assert space.name == "nao-cnn:nodes=3,layers=2" and space.length == 24
    assert get_space(space.name).name == space.name  # a worker rebuilds the same space
    arch = space.sample(np.random.default_rng(1))
    assert len(arch.normal) == 3
    assert space.from_string(space.to_string(arch)) == arch
    net = space.build(arch, space.child_channels, 10, space.child_layers, 1)
    assert net.config["layers"] == 2 and net.config["channels"] == 8
    assert space.build(arch, 6, 10, 1, 1).config["channels"] == 6  # nao train's --channels


@pytest.mark.parametrize(("option", "fragment"), [
    ("nodes=1", "nodes=N (2-10"), ("channels=x", "not a whole number"),
    ("depth=3", "is not an option"), ("nodes=3,nodes=4", "given twice"),
])
def test_bad_options_are_one_line_config_errors(option, fragment):
    with pytest.raises(ConfigError, match=r"nao-cnn") as info:
        get_space(f"nao-cnn:{option}")
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["nodes", "channels", "layers"])
@pytest.mark.parametrize("value", ["a", "1.5", "1_0", "+5", "\u0663", "-1", "0", "99999999",
                                   "9" * 5000, ""])
def test_non_integer_negative_zero_huge_or_empty_values_are_one_line_errors(key, value):
    with pytest.raises(ConfigError) as info:
        get_space(f"nao-cnn:{key}={value}")
    message = str(info.value)
    assert message.startswith("nao-cnn") and "nao-cnn:nodes=5,channels=8,layers=1" in message
    assert "\n" not in message and len(message) < 400


def test_the_space_has_no_supernet_and_says_to_search_it_with_training():
    with pytest.raises(ConfigError, match="nao search --space nao-cnn --data"):
        NaoCnnSpace().build_supernet(8, 10, 1, 1)


def test_an_enas_micro_architecture_string_is_a_nao_cnn_one():
    text = ("normal: 0 sep_conv_3x3 1 identity | 0 avg_pool_3x3 2 sep_conv_5x5 | 1 max_pool_3x3 "
            "3 identity | 0 identity 1 identity | 4 sep_conv_3x3 5 avg_pool_3x3 ; reduce: 0 "
            "max_pool_3x3 1 sep_conv_5x5 | 2 identity 0 avg_pool_3x3 | 1 sep_conv_3x3 3 identity"
            " | 0 identity 4 max_pool_3x3 | 1 avg_pool_3x3 5 identity")
    arch = NaoCnnSpace().from_string(text)
    assert isinstance(arch, MicroArch) and EnasMicroSpace().from_string(text) == arch
    assert NaoCnnSpace().to_tokens(arch) != EnasMicroSpace().to_tokens(arch)  # own op tokens
