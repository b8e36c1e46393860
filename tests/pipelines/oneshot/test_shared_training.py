"""The one-shot trainer's pieces (pipelines/oneshot/shared_training.py) and the controller table:
what DARTS, SNAS and the next controllers plug into without copying the weight-sharing loop."""

from __future__ import annotations

import copy as copy_module

import numpy as np
import pytest
import torch

from pipelines.commands.parsers.ws import register
from pipelines.oneshot.relaxed_search import RELAXED_CONTROLLERS
from pipelines.oneshot.shared_training import (
    SharedWeights,
    build_supernet,
    final_pick,
    score,
    uniform_choice,
)
from pipelines.oneshot.supernet_evaluator import SupernetEvaluator
from pipelines.oneshot.weight_sharing import (
    CONTROLLER_TABLE,
    CONTROLLERS,
    WeightSharingSearch,
    pool_policy,
    strategy_defaults,
)
from pipelines.training.data import load_data
from pipelines.training.network_options import NetworkOptions
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import get_space
from search_spaces.enas_micro_net import OpWeights

NET = NetworkOptions(channels=4, layers=1, stem_stride=1, batch_size=100)


@pytest.fixture(scope="module")
def space():
    return get_space("enas-micro")


@pytest.fixture(scope="module")
def task():
    return ImageClassification(load_data("standin:1x8x8", seed=0))


def shared(space, task, seed: int = 0) -> SharedWeights:
    runtime = Runtime("cpu")
    supernet = build_supernet(space, NET, task, seed, runtime)
    return SharedWeights.sgd(supernet, task, runtime, epochs=3, batch_size=NET.batch_size,
                             lr_max=0.05, lr_min=0.001, momentum=0.9, weight_decay=3e-4,
                             grad_clip=5.0, seed=seed)


def test_restored_shared_weights_train_on_as_the_original(space, task):
    pool = [space.sample(np.random.default_rng(i)) for i in range(3)]
    first = shared(space, task)
    first.train_epoch(uniform_choice(pool, np.random.default_rng(0)))
    state = copy_module.deepcopy(first.state_dict())  # as a checkpoint on disk holds it
    copy = shared(space, task, seed=1)  # other initial weights and minibatch order
    copy.load_state_dict(state)
    assert copy.lr == first.lr < 0.05  # the schedule stepped once and came back
    losses = [s.train_epoch(uniform_choice(pool, np.random.default_rng(1))) for s in (first, copy)]
    assert losses[0] == losses[1]


def test_the_loop_takes_op_weights_and_one_hot_weights_train_as_the_discrete_choice(
        space, task, float64):
    arch = space.sample(np.random.default_rng(0))
    discrete = shared(space, task).train_epoch(lambda: arch)
    one_hot = shared(space, task).train_epoch(lambda: OpWeights.one_hot(arch))
    assert one_hot == pytest.approx(discrete, rel=1e-12)


def test_mixed_op_weights_train_every_op_a_discrete_choice_only_its_own(space, task):
    arch = space.sample(np.random.default_rng(0))
    trained = {}
    for name, choice in [("discrete", arch), ("mixed", OpWeights.uniform(arch))]:
        s = shared(space, task)
        before = {n: p.detach().clone() for n, p in s.supernet.named_parameters()}
        s.train_epoch(lambda choice=choice: choice)
        trained[name] = {n for n, p in s.supernet.named_parameters()
                         if not torch.equal(p, before[n])}
    branch_params = {n for n, _p in shared(space, task).supernet.named_parameters()
                     if ".branches." in n}
    assert branch_params <= trained["mixed"]  # every op of every branch learns
    assert trained["discrete"] < trained["mixed"]
    assert not branch_params <= trained["discrete"]


def test_final_pick_rescores_the_best_on_the_whole_validation_split(space, task):
    s = shared(space, task)
    pool = [space.sample(np.random.default_rng(i)) for i in range(5)]
    s.train_epoch(uniform_choice(pool, np.random.default_rng(0)))
    sampled = SupernetEvaluator(s.supernet, task.data, batch_size=50, n_batches=1,
                                generator=torch.Generator().manual_seed(0))
    picked = final_pick(sampled, pool, 3)
    full = SupernetEvaluator(s.supernet, task.data, batch_size=50, n_batches=None)
    assert len(picked) == 3
    assert [v for _a, v in picked] == sorted((v for _a, v in picked), reverse=True)
    assert [v for _a, v in picked] == score(full, [a for a, _v in picked])


def test_the_cli_offers_the_rows_of_the_controller_table():
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    action = next(a for a in sub.choices["ws"]._actions if a.dest == "controller")
    assert CONTROLLERS == tuple(CONTROLLER_TABLE) == ("nao", "rl", "random")
    assert tuple(action.choices) == CONTROLLERS + RELAXED_CONTROLLERS  # then the relaxed ones


def test_a_registered_strategy_without_a_row_drives_the_pool_as_the_default_row(space, task):
    assert pool_policy("evolution", 10, 10) == pool_policy("random", 10, 10)
    assert strategy_defaults("evolution", 10, 5) == {"batch_size": 5}
    assert strategy_defaults("nao-paper", 10, 5) == {}  # takes no batch_size
    search = WeightSharingSearch(space, "evolution", epochs=2, channels=4, layers=1,
                                 batch_size=50, pool_size=4, eval_batches=1, final_candidates=2,
                                 device="cpu", progress=False,
                                 controller_options={"population_size": 4, "sample_size": 2})
    out = search.fit(task.data).result(task.data)
    assert space.to_string(space.from_string(out["best"]["arch"])) == out["best"]["arch"]
    assert [h["controller_step"] for h in out["history"]] == [True, True]
