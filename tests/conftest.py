"""Shared fixtures: the real NAS-Bench-Graph cora table ships with the installed wheel."""

from __future__ import annotations

import multiprocessing
import os
import sys

import numpy as np
import pytest
import torch
from hypothesis import settings

from search_spaces import get_space

# The networks in the tests are tiny: one thread is as fast, and on a busy two-core machine
# several threads stall each other for seconds.
torch.set_num_threads(1)

# CI fuzzes on a fixed seed, so whether a submission lands does not depend on luck; a developer's
# run explores new inputs every time (and Hypothesis replays what it found in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def cora():
    return get_space("nasbench-graph:cora")


@pytest.fixture(scope="session")
def cora_sample(cora):
    """60 distinct cora architectures with their validation accuracy."""
    from pipelines.search.predictor_eval import sample_distinct

    archs = sample_distinct(cora, 60, np.random.default_rng(123))
    return archs, np.array([cora.lookup(a).valid for a in archs])


@pytest.fixture
def float64():
    """torch's default float dtype set to float64 for one test: two computations that agree in
    exact arithmetic then agree to ~1e-15, so a tight tolerance tells a real difference from the
    order float32 sums gradients in (which a small batch-norm batch amplifies past any fixed
    float32 tolerance)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch.float64
    torch.set_default_dtype(before)


def pytest_sessionfinish(session, exitstatus):
    """End the worker processes the tests started (loky's reusable executor: `--workers`,
    `--jobs`) and reap every finished child. Left running, they idle out later as children of
    this process, and a caller that waits for its own children with ``os.wait()`` (mutmut,
    which runs the tests in its own process before forking one child per mutant) reaps a pid it
    does not know and fails."""
    reusable = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(reusable, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)
    multiprocessing.active_children()  # joins the multiprocessing children that have ended


@pytest.fixture
def fake_gpu(monkeypatch):
    """CUDA generators, each device's state starting with its index, and device 0 the current
    one: what a checkpoint saves and restores of them is visible on a CPU-only machine."""
    gpu = {"set": []}
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_rng_state",
                        lambda index: torch.tensor([index, 2, 3], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, index: gpu["set"].append((state.tolist(), index)))
    return gpu
