"""Children trained from scratch (pipelines/search/train_evaluator.py): every space with networks
builds and trains its children through the evaluator, at the size the space declares."""

from __future__ import annotations

import dataclasses
import time
import zlib

import numpy as np
import pytest
import torch
from support import N_FAKE_TEST, make_fake_fashion

from nao.errors import ConfigError
from pipelines.search import train_evaluator
from pipelines.search.store import key_text
from pipelines.search.train_evaluator import (
    ChildTraining,
    DataSpec,
    TrainEvaluator,
    child_seed,
    train_child,
)
from search_spaces import Buildable, available, get_space

# small options where a family's default network is large
OPTIONS = {"enas-macro": "enas-macro:layers=3", "nas-rl": "nas-rl:layers=2"}
BUILDABLE = [family for family in available()
             if isinstance(get_space(OPTIONS.get(family, family)), Buildable)]


def test_the_bundled_spaces_with_networks_are_all_checked():
    assert {"enas-micro", "enas-macro", "nas-rl", "nao-cnn"} <= set(BUILDABLE)


@pytest.mark.parametrize("family", BUILDABLE)
def test_every_buildable_space_trains_a_child_at_its_declared_size(family, monkeypatch):
    space = get_space(OPTIONS.get(family, family))
    built = []
    real_build = type(space).build

    def recording(self, arch, channels, num_classes, layers, in_channels, **kwargs):
        built.append((channels, layers))
        return real_build(self, arch, channels, num_classes, layers, in_channels, **kwargs)

    monkeypatch.setattr(type(space), "build", recording)
    evaluator = TrainEvaluator(space, DataSpec("standin:1x8x8", train_size=64),
                               ChildTraining(epochs=1, batch_size=32))
    result = evaluator.evaluate(space.sample(np.random.default_rng(0)))
    assert built == [(space.child_channels, space.child_layers)]
    assert space.child_channels >= 1 and space.child_layers >= 1
    assert 0.0 <= result.valid <= 1.0 and 0.0 <= result.test <= 1.0
    assert result.info["params"] > 0


def test_a_spaces_own_child_size_is_what_its_children_get():
    space = get_space("nao-cnn:channels=6,layers=2")
    assert (space.child_channels, space.child_layers) == (6, 2)


# --- what a child is, how it trains, and what is scored and recorded ---

SPACE = "nas-rl:layers=2"
DATA = DataSpec("standin:1x8x8", train_size=64)
QUICK = ChildTraining(epochs=2, batch_size=32)


def quick_job(training: ChildTraining = QUICK, seed: int = 0, data: DataSpec = DATA):
    evaluator = TrainEvaluator(get_space(SPACE), data, training, seed=seed)
    arch = evaluator.space.sample(np.random.default_rng(0))
    return evaluator, arch, evaluator.job(arch)


def test_a_childs_seed_is_the_crc32_of_the_run_seed_and_its_architecture_key():
    """Fixed across versions: a resumed run trains its remaining children as the first did."""
    assert child_seed(0, "abc") == zlib.crc32(b"0|abc") == 2358233199
    assert child_seed(7, "abc") == zlib.crc32(b"7|abc")
    evaluator, arch, job = quick_job(seed=7)
    key = key_text(evaluator.space.canonical(arch))
    assert (job.key, job.seed) == (key, child_seed(7, key))
    assert (job.space, job.arch) == (evaluator.space.name, evaluator.space.to_string(arch))
    assert (job.data, job.training) == (DATA, QUICK)


def test_a_childs_scores_depend_on_its_seed_alone():
    _ev, _arch, job = quick_job()
    first, again = train_child(job), train_child(job)
    assert (first.valid, first.test, first.info["train_loss"]) == \
        (again.valid, again.test, again.info["train_loss"])
    other = train_child(dataclasses.replace(job, seed=job.seed + 1))
    assert other.info["train_loss"] != first.info["train_loss"]
    # the global generator is left as it was
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    train_child(job)
    assert torch.rand(1) == expected


def test_the_shuffling_follows_the_childs_seed(monkeypatch):
    """The minibatch order is drawn from the child's own seed, not from the weights' stream."""
    seen = []
    real = train_evaluator.train_epoch

    def recording(model, task, optimizer, runtime, **kwargs):
        seen.append(torch.Generator().set_state(kwargs["generator"].get_state()).initial_seed())
        return real(model, task, optimizer, runtime, **kwargs)

    monkeypatch.setattr(train_evaluator, "train_epoch", recording)
    _ev, _arch, job = quick_job()
    train_child(job)
    assert seen and seen[0] == job.seed


class RecordingSGD(torch.optim.SGD):
    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingSGD.made.append(self)


def test_every_child_trains_on_the_recipe(monkeypatch):
    """SGD with the recipe's learning rate, Nesterov momentum and weight decay, on a cosine
    schedule that ends at 0 after the recipe's epochs, each epoch in minibatches of the
    recipe's size with its gradient clip."""
    RecordingSGD.made = []
    monkeypatch.setattr(torch.optim, "SGD", RecordingSGD)
    epochs = []
    real = train_evaluator.train_epoch

    def recording(model, task, optimizer, runtime, **kwargs):
        epochs.append((optimizer.param_groups[0]["lr"], kwargs["batch_size"],
                       kwargs["grad_clip"]))
        return real(model, task, optimizer, runtime, **kwargs)

    monkeypatch.setattr(train_evaluator, "train_epoch", recording)
    recipe = ChildTraining(epochs=3, batch_size=16, lr=0.05, momentum=0.8, weight_decay=3e-4,
                           grad_clip=2.5)
    _ev, _arch, job = quick_job(recipe)
    train_child(job)
    (sgd,) = RecordingSGD.made
    group = sgd.param_groups[0]
    assert (group["initial_lr"], group["momentum"], group["weight_decay"], group["nesterov"]) \
        == (0.05, 0.8, 3e-4, True)
    assert group["lr"] == pytest.approx(0.0, abs=1e-12)  # the cosine's end, after 3 epochs
    assert [e[1:] for e in epochs] == [(16, 2.5)] * 3
    assert epochs[0][0] == 0.05 and epochs[1][0] == pytest.approx(0.05 * 0.75)


def test_a_recipe_without_momentum_trains_plain_sgd(monkeypatch):
    RecordingSGD.made = []
    monkeypatch.setattr(torch.optim, "SGD", RecordingSGD)
    _ev, _arch, job = quick_job(ChildTraining(epochs=1, batch_size=32, momentum=0.0))
    train_child(job)  # torch refuses Nesterov without momentum
    assert RecordingSGD.made[0].param_groups[0]["nesterov"] is False


def test_the_default_recipe_is_zoph_and_les(monkeypatch):
    defaults = ChildTraining()
    assert (defaults.epochs, defaults.batch_size, defaults.lr, defaults.momentum,
            defaults.weight_decay, defaults.grad_clip, defaults.device, defaults.threads) == \
        (2, 64, 0.1, 0.9, 1e-4, 5.0, "cpu", 1)
    evaluator = TrainEvaluator(get_space(SPACE), DATA)
    assert evaluator.training == defaults and evaluator.seed == 0


def test_valid_is_scored_on_the_validation_split_and_test_on_the_test_split(monkeypatch):
    def fake_accuracy(model, data, split, runtime):
        return {id(data.valid): 0.25, id(data.test): 0.75}[id(split)]

    monkeypatch.setattr(train_evaluator, "accuracy", fake_accuracy)
    _ev, _arch, job = quick_job(ChildTraining(epochs=1, batch_size=32))
    result = train_child(job)
    assert (result.valid, result.test) == (0.25, 0.75)


def test_a_child_records_its_size_last_training_loss_and_time(monkeypatch):
    losses, models = [], []
    real = train_evaluator.train_epoch

    def recording(model, task, optimizer, runtime, **kwargs):
        models.append(model)
        losses.append(real(model, task, optimizer, runtime, **kwargs)[0])
        return losses[-1], 0.5

    monkeypatch.setattr(train_evaluator, "train_epoch", recording)
    _ev, _arch, job = quick_job()
    started = time.perf_counter()
    result = train_child(job)
    took = time.perf_counter() - started
    assert set(result.info) == {"params", "train_loss", "train_s"}
    assert result.info["params"] == sum(p.numel() for p in models[0].parameters())
    assert result.info["train_loss"] == losses[-1] != losses[0]
    assert 0 < result.info["train_s"] <= round(took, 3) + 0.001
    assert result.info["train_s"] == round(result.info["train_s"], 3)


def test_a_child_trains_on_torchs_threads_of_its_recipe(monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    _ev, _arch, job = quick_job(ChildTraining(epochs=1, batch_size=32, threads=3))
    train_child(job)
    assert threads == [3]


def test_a_batch_as_large_as_the_training_set_trains_and_a_larger_one_is_refused():
    images = len(DATA.load().train)
    train_child(quick_job(ChildTraining(epochs=1, batch_size=images))[2])
    with pytest.raises(ConfigError) as err:
        train_child(quick_job(ChildTraining(epochs=1, batch_size=images + 1))[2])
    assert str(err.value) == (f"--batch-size {images + 1} exceeds the {images} training images; "
                              "lower --batch-size")


def test_the_data_spec_loads_its_data_set_split_by_its_seed():
    data = DataSpec("standin:1x8x8", train_size=40, seed=0).load()
    assert len(data.train) == 40 and data.in_channels == 1
    assert DataSpec("standin:1x8x8", train_size=40, seed=0).load() is data  # once per process
    other = DataSpec("standin:1x8x8", train_size=40, seed=1).load()
    assert not torch.equal(other.valid.images, data.valid.images)
    assert torch.equal(other.test.images, data.test.images)
    assert DataSpec().name == "digits" and DataSpec().seed == 0


def test_the_data_spec_reads_its_data_dir(tmp_path):
    make_fake_fashion(tmp_path)
    data = DataSpec("fashion-mnist", str(tmp_path)).load()
    assert len(data.test) == N_FAKE_TEST


@pytest.mark.parametrize(("data", "training", "message"), [
    (DataSpec("standin:1x8x8", train_size=0), None, "--train-size must be at least 1, got 0"),
    (DataSpec("nothing"), None, "unknown data set"),
    (DataSpec("standin:1x8x8", data_dir="elsewhere"), None,
     "--data standin is generated and takes no --data-dir"),
    (DATA, ChildTraining(epochs=0), "--epochs must be at least 1, got 0"),
    (DATA, ChildTraining(batch_size=0), "--batch-size must be at least 1, got 0"),
    (DATA, ChildTraining(lr=0.0), "the child learning rate must be more than 0, got 0.0"),
    (DATA, ChildTraining(lr=float("nan")), "the child learning rate must be more than 0, got nan"),
])
def test_bad_data_or_recipe_options_are_refused_before_anything_trains(data, training, message):
    with pytest.raises(ConfigError) as err:
        TrainEvaluator(get_space(SPACE), data, training)
    assert str(err.value).startswith(message)


def test_the_smallest_options_are_accepted():
    DataSpec("standin:1x8x8", train_size=1).check()
    ChildTraining(epochs=1, batch_size=1, lr=1e-9).check()


def test_a_space_without_networks_is_refused_naming_the_use():
    with pytest.raises(ConfigError, match=r"no networks to build, which training children from "
                       r"scratch \(nao search --data\) needs; use one of: "):
        TrainEvaluator(get_space("nasbench-graph:cora"), DATA)


def test_a_task_is_the_childs_job_for_a_worker():
    evaluator, arch, job = quick_job()
    task = evaluator.task(arch)
    assert task.func is train_child and task.args == (job,) and not task.keywords
    direct, sent = evaluator.evaluate(arch), task()
    assert (direct.valid, direct.test, direct.info["train_loss"]) == \
        (sent.valid, sent.test, sent.info["train_loss"])


def test_the_recorded_configuration_is_the_data_and_the_recipe():
    evaluator, _arch, _job = quick_job(seed=3)
    assert evaluator.config() == {
        "data": {"name": "standin:1x8x8", "data_dir": None, "train_size": 64, "seed": 0},
        "training": {"epochs": 2, "batch_size": 32, "lr": 0.1, "momentum": 0.9,
                     "weight_decay": 1e-4, "grad_clip": 5.0, "device": "cpu", "threads": 1}}
    assert TrainEvaluator(get_space(SPACE), DATA, seed=3.0).seed == 3
    assert type(TrainEvaluator(get_space(SPACE), DATA, seed=3.0).seed) is int
