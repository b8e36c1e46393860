"""The throughput benchmark runs end to end on a tiny configuration and checks its flags."""

from __future__ import annotations

import pytest
import torch
from support import load_script

from nao.errors import ConfigError

RATE_ROUNDING = 0.02  # the rates are reported to 0.1 image/s, the ratios from the exact rates


@pytest.fixture(scope="module")
def bench():
    return load_script("supernet_throughput")


def test_reports_every_network_and_the_ratios(bench, restore_threads, capsys):
    out = bench.main(["--channels", "4", "--layers", "1", "--batch", "2", "--steps", "1",
                      "--warmup", "0", "--device", "cpu", "--json"])
    assert set(out["images_per_second"]) == {"supernet", "supernet_fixed", "child", "plain_cnn",
                                             "plain_cnn_channels_last"}
    assert out["config"]["threads"] == 1
    rates = out["images_per_second"]
    fastest_plain = max(rates["plain_cnn"], rates["plain_cnn_channels_last"])
    expected = {"plain_over_supernet": fastest_plain / rates["supernet"],
                "child_over_supernet_fixed": rates["child"] / rates["supernet_fixed"]}
    assert out["overhead"] == pytest.approx(expected, rel=RATE_ROUNDING, abs=0.01)
    assert '"images_per_second"' in capsys.readouterr().out


@pytest.mark.parametrize("stride", [1, 2])
def test_stem_stride_reaches_every_network(bench, restore_threads, monkeypatch, stride):
    """The supernet, the child and the plain CNN that are timed all have the stem stride asked
    for: their first convolution strides by it and shrinks the image by it."""
    timed: dict[str, torch.nn.Module] = {}
    space_cls, plain_cnn = bench.EnasMicroSpace, bench.matching_plain_cnn
    real_supernet, real_build = space_cls.build_supernet, space_cls.build

    def supernet(self, *args, **kwargs):
        timed["supernet"] = real_supernet(self, *args, **kwargs)
        return timed["supernet"]

    def build(self, *args, **kwargs):
        model = real_build(self, *args, **kwargs)
        timed.setdefault("child", model)  # the first build is timed; later ones count params
        return model

    def plain(*args, **kwargs):
        timed["plain"] = plain_cnn(*args, **kwargs)
        return timed["plain"]

    monkeypatch.setattr(space_cls, "build_supernet", supernet)
    monkeypatch.setattr(space_cls, "build", build)
    monkeypatch.setattr(bench, "matching_plain_cnn", plain)
    out = bench.main(["--channels", "4", "--layers", "1", "--batch", "2", "--steps", "1",
                      "--warmup", "0", "--device", "cpu", "--stem-stride", str(stride)])
    assert out["config"]["stem_stride"] == stride
    image = torch.randn(1, *bench.IMAGE)
    side = -(-bench.IMAGE[1] // stride)
    first_convs = {"supernet": timed["supernet"].stem[0], "child": timed["child"].stem[0],
                   "plain": timed["plain"][0]}
    for name, conv in first_convs.items():
        assert conv.stride == (stride, stride), name
        assert conv(image).shape[-2:] == (side, side), name
    assert timed["plain"](image).shape == (1, bench.CLASSES)


def test_cuda_without_a_gpu_is_a_config_error(bench, restore_threads):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match="cuda"):
        bench.main(["--device", "cuda", "--steps", "1"])
