"""What only the nas-rl space does: its layout of tokens, its string form, the anchor-point
wiring of its child network and its option. The generic contract (round trips, masks, errors)
is tests/search_spaces/test_space_contract.py."""

from __future__ import annotations

import pytest
import torch

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space
from search_spaces.nas_rl import NasRlSpace
from search_spaces.nas_rl_arch import Layer, loose_ends
from search_spaces.nas_rl_net import NasRlNetwork


def test_each_layer_has_four_decisions_and_one_skip_bit_per_earlier_layer():
    for n in (1, 3, 6):
        assert NasRlSpace(n).length == sum(4 + i for i in range(n))
    space = NasRlSpace(3)
    fields = [space.describe_position(p) for p in range(space.length)]
    assert fields[4:9] == ["token 4 (layer 1, height)", "token 5 (layer 1, width)",
                           "token 6 (layer 1, filters)", "token 7 (layer 1, stride)",
                           "token 8 (layer 1, skip from layer 0)"]
    assert fields[-2:] == ["token 13 (layer 2, skip from layer 0)",
                           "token 14 (layer 2, skip from layer 1)"]


def test_the_string_form_reads_filter_shape_count_stride_and_the_layers_read():
    space = NasRlSpace(3)
    arch = space.from_string("3x5 36 s1 | 1x1 24 s2 0 | 7x7 64 s1 - 1")
    assert arch == (Layer(3, 5, 36, 1, ()), Layer(1, 1, 24, 2, (True,)),
                    Layer(7, 7, 64, 1, (False, True)))
    assert [layer.inputs for layer in arch] == [(), (0,), (1,)]
    assert loose_ends(arch) == (2,)
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_string("3x5 36 s1 | 1x1 24 s2 0 | 7x7 64 s1 - 2")
    assert info.value.position == 14 and "skip from layer 1" in str(info.value)


def test_the_option_sets_the_depth_and_a_bad_one_is_a_one_line_error():
    assert get_space("nas-rl").length == NasRlSpace(6).length
    assert get_space("nas-rl:layers=2").name == "nas-rl:layers=2"
    for bad in ("layers=0", "layers=21", "depth=3", "layers=", "layers=²"):
        with pytest.raises(ConfigError, match="nas-rl:layers=6") as info:
            get_space(f"nas-rl:{bad}")
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", ["layers=a", "layers=1.5", "layers=1_0", "layers=+5",
                                 "layers=\u0663", "layers=-1", "layers=0", "layers=99999999",
                                 "layers=" + "9" * 5000, "layers=", "layers", "", "=",
                                 "bogus=1", "layers=2,layers=3"])
def test_non_integer_negative_zero_huge_empty_or_unknown_options_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as info:
        get_space(f"nas-rl:{bad}")
    message = str(info.value)
    assert message.startswith("nas-rl") and "nas-rl:layers=6" in message
    assert "\n" not in message and len(message) < 300


def test_a_layer_reading_several_layers_concatenates_them_padded_to_the_largest_size():
    # layer 1 halves the image (8 -> 4); layer 2 reads layers 0 (8x8) and 1 (4x4)
    arch = NasRlSpace(3).from_string("3x3 24 s1 | 3x3 36 s2 0 | 1x1 48 s1 0 1")
    net = NasRlNetwork(arch, num_classes=10, in_channels=1)
    assert net.convs[0][0].in_channels == 1  # no input layer: the image
    assert net.convs[2][0].in_channels == 24 + 36
    seen = {}
    net.convs[2].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    net(torch.randn(2, 1, 8, 8))
    x = seen["x"]
    assert x.shape == (2, 60, 8, 8)
    padded = x[:, 24:]  # layer 1's 4x4 output, zero-padded by two on each side
    assert padded[..., :2, :].abs().sum() == 0 and padded[..., 6:, :].abs().sum() == 0
    assert padded[..., 2:6, 2:6].abs().sum() > 0


def test_every_layer_no_later_layer_reads_feeds_the_classifier():
    # layers 0 and 1 both read the image; nothing reads layer 0 or 1 except layer 2 reading 1
    arch = NasRlSpace(3).from_string("3x3 24 s1 | 5x5 36 s2 - | 1x1 48 s1 - 1")
    assert loose_ends(arch) == (0, 2)
    net = NasRlNetwork(arch, num_classes=7, in_channels=3)
    assert net.classifier.in_features == 24 + 48
    assert net(torch.randn(2, 3, 9, 9)).shape == (2, 7)


def test_there_is_no_supernet_and_the_error_says_to_use_nao_search():
    with pytest.raises(ConfigError, match="trains? from scratch.*nao search") as info:
        NasRlSpace(2).build_supernet(16, 10, 2, 1)
    assert "\n" not in str(info.value)
