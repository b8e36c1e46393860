"""The step-overhead benchmark counts one step's own ops (not those nested in them), and its
``--gpu-ops`` runs the average pool as torch's kernel, as a GPU does."""

from __future__ import annotations

import pytest
import torch
from support import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("step_overhead")


def test_top_level_ops_leave_out_the_ops_called_inside_them(bench):
    conv, x = torch.nn.Conv2d(2, 2, 3), torch.randn(1, 2, 5, 5)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        conv(x)
    nested = {e.name for e in prof.events()}
    assert "aten::convolution" in nested  # conv2d calls it ...
    assert bench.top_level_ops(prof.events()) == {"aten::conv2d": 1}  # ... and is counted once


def test_the_gpus_ops_are_fewer_and_pool_with_torchs_kernel(bench, restore_threads, capsys):
    args = ["--steps", "1", "--fixed", "--json"]
    cpu, gpu = bench.main(args), bench.main([*args, "--gpu-ops"])
    assert cpu["config"]["gpu_ops"] is False and gpu["config"]["gpu_ops"] is True
    assert 0 < gpu["kernel_ops_per_step"] < cpu["kernel_ops_per_step"] < cpu["ops_per_step"]
    assert "aten::avg_pool2d" in gpu["top_kernel_ops"]
    assert "aten::avg_pool2d" not in cpu["top_kernel_ops"]
    assert '"kernel_ops_per_step"' in capsys.readouterr().out
