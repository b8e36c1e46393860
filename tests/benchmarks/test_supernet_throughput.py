"""The throughput benchmark runs end to end on a tiny configuration and checks its flags."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from nao.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "supernet_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("supernet_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_reports_every_network_and_the_ratios(bench, restore_threads, capsys):
    out = bench.main(["--channels", "4", "--layers", "1", "--batch", "2", "--steps", "1",
                      "--warmup", "0", "--device", "cpu", "--json"])
    assert set(out["images_per_second"]) == {"supernet", "supernet_fixed", "child", "plain_cnn",
                                             "plain_cnn_channels_last"}
    assert out["config"]["threads"] == 1 and out["overhead"]["plain_over_supernet"] > 0
    assert '"images_per_second"' in capsys.readouterr().out


def test_stem_stride_reaches_every_network(bench, restore_threads):
    out = bench.main(["--channels", "4", "--layers", "1", "--batch", "2", "--steps", "1",
                      "--warmup", "0", "--device", "cpu", "--stem-stride", "2"])
    assert out["config"]["stem_stride"] == 2
    plain = bench.matching_plain_cnn(1000, per_stage=2, first_stride=2)
    assert plain[0].stride == (2, 2) and plain(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_cuda_without_a_gpu_is_a_config_error(bench, restore_threads):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match="cuda"):
        bench.main(["--device", "cuda", "--steps", "1"])
