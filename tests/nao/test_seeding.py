"""``seeded_torch``: a piece of work draws from seeded generators, and the caller's random state,
on the CPU and on every GPU, is as it was. A NAO fit inside a user's program (an Optuna study
training on a GPU, say) must not reset that program's GPU randomness to a fixed seed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nao import NAO
from nao.seeding import seeded_torch

TINY = {"epochs": 2, "patience": None, "max_symmetries": 1, "embedding_size": 8,
        "hidden_size": 8, "mlp_hidden_size": 8, "random_state": 0}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_gpu_seeding(monkeypatch):
    """Any seeding of a GPU's generator fails the test (torch.manual_seed does it for every
    GPU, and the CPU-only fork around it does not restore them)."""
    def refuse(*args, **kwargs):
        pytest.fail("a GPU generator was seeded")
    monkeypatch.setattr(torch.cuda, "manual_seed_all", refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed", refuse)


def test_the_block_draws_what_manual_seed_gives_and_the_callers_state_comes_back():
    torch.manual_seed(11)
    caller = torch.rand(3)  # what the caller's stream gives next, undisturbed
    torch.manual_seed(11)
    with seeded_torch(5):
        inside = torch.rand(4)
    assert torch.equal(torch.rand(3), caller)
    torch.manual_seed(5)
    assert torch.equal(inside, torch.rand(4))


def test_the_state_comes_back_when_the_block_raises():
    before = torch.get_rng_state()
    with pytest.raises(KeyError), seeded_torch(5):
        torch.rand(10)
        raise KeyError("x")
    assert torch.equal(torch.get_rng_state(), before)


def test_a_cpu_block_seeds_no_gpu(no_gpu_seeding):
    with seeded_torch(5, "cpu"):
        torch.rand(2)


def test_a_nao_fit_and_pretraining_seed_no_gpu_and_keep_the_callers_cpu_stream(
        cora, cora_sample, no_gpu_seeding):
    archs, y = cora_sample
    torch.default_generator.manual_seed(3)  # the CPU's only: the fixture refuses the GPUs'
    caller = torch.rand(3)
    torch.default_generator.manual_seed(3)
    model = NAO(cora, **TINY)
    model.pretrain(archs, epochs=1)
    model.fit(archs, y)
    assert torch.equal(torch.rand(3), caller)
    assert np.isfinite(model.predict(archs[:3])).all()


def test_no_module_reseeds_torch_globally():
    """torch.manual_seed anywhere in the package would seed every GPU for good; work seeds
    through seeded_torch (or a torch.Generator of its own)."""
    calls = [f"{path.relative_to(ROOT)}:{n}"
             for package in ("nao", "search_spaces", "pipelines")
             for path in sorted((ROOT / package).rglob("*.py")) if path.name != "seeding.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"torch\.(cuda\.)?manual_seed(_all)?\(", line.split("#")[0])]
    assert calls == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_block_seeds_that_gpu_and_gives_its_state_back():
    torch.cuda.manual_seed(11)
    caller = torch.rand(3, device="cuda")
    torch.cuda.manual_seed(11)
    with seeded_torch(5, "cuda"):
        inside = torch.rand(4, device="cuda")
    assert torch.equal(torch.rand(3, device="cuda"), caller)
    torch.cuda.manual_seed(5)
    assert torch.equal(inside, torch.rand(4, device="cuda"))


def test_a_checkpoint_on_a_gpu_keeps_its_generator_and_puts_it_back(fake_gpu):
    """Dropout and drop-path masks on a GPU draw from its generator: a resume that restored the
    CPU's alone would train on other masks than the uninterrupted run."""
    from nao.seeding import global_rng_state, set_global_rng_state

    state = global_rng_state("cuda")
    assert torch.equal(state["torch_rng"], torch.get_rng_state())
    assert state["cuda_rng"].tolist() == [0, 2, 3]
    cpu_next = torch.rand(2)
    set_global_rng_state(state, "cuda:0")
    assert torch.equal(torch.rand(2), cpu_next) and fake_gpu["set"] == [([0, 2, 3], 0)]
    # a device named by its index is that device's generator, not the current one's
    set_global_rng_state(global_rng_state("cuda:1"), "cuda:1")
    assert fake_gpu["set"][-1] == ([1, 2, 3], 1)


def test_a_cpu_checkpoint_holds_no_gpu_state_and_a_gpu_one_resumes_on_the_cpu(fake_gpu):
    from nao.seeding import global_rng_state, set_global_rng_state

    assert set(global_rng_state("cpu")) == {"torch_rng"}
    set_global_rng_state(global_rng_state("cuda"), "cpu")  # made on a GPU, resumed on a CPU
    set_global_rng_state(global_rng_state("cpu"), "cuda")  # and the other way round
    assert fake_gpu["set"] == []
