"""The epoch loop's scaffolding (pipelines/training/epochs.py, task.py, network_options.py,
run_dir.check_resume): what every trainer shares instead of writing it again."""

from __future__ import annotations

import argparse
import json
import time

import pytest
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from nao.errors import ConfigError
from pipelines.commands.data_options import add_training_options
from pipelines.oneshot.weight_sharing import NETWORK as WS_NETWORK
from pipelines.progress import PlainProgress
from pipelines.training.data import load_data
from pipelines.training.epochs import EpochLoop, RunRecord, train_epoch
from pipelines.training.final import NETWORK as TRAIN_NETWORK
from pipelines.training.network_options import NetworkOptions
from pipelines.training.run_dir import RESUME_NEEDS_OUT, check_resume
from pipelines.training.run_files import CHECKPOINT
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification

DATA = "standin:1x8x8"  # 500 training images of 1x8x8, 10 classes
KEYS = ("weights",)


@pytest.fixture(scope="module")
def data():
    return load_data(DATA, seed=0)


class Linear(nn.Module):
    """A model that records each minibatch's choice."""

    def __init__(self, classes: int):
        super().__init__()
        self.fc = nn.Linear(64, classes)
        self.choices: list = []

    def forward(self, x, choice=None):
        self.choices.append(choice)
        return self.fc(x.flatten(1))


def test_check_resume_refuses_a_resume_without_a_directory_only():
    check_resume(False, None)
    check_resume(True, "run")
    with pytest.raises(ConfigError, match="--resume needs --out") as err:
        check_resume(True, None)
    assert str(err.value) == RESUME_NEEDS_OUT


def test_run_record_without_a_directory_writes_and_builds_nothing():
    record = RunRecord.open(None, {"a": 1}, False, "test", KEYS)
    assert record.start_epoch == 0 and record.history() == []
    assert record.restore(lambda state: pytest.fail("a fresh run has nothing to restore")) is False
    record.end_epoch(1, [{"epoch": 1}], lambda: pytest.fail("no directory: no checkpoint built"))


def test_run_record_checkpoints_logs_and_restores_each_epoch(tmp_path):
    config = {"lr": 0.1}
    record = RunRecord.open(tmp_path, config, False, "test", KEYS)
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]
    record.end_epoch(2, history, lambda: {"weights": torch.arange(3)})
    assert [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()] == history
    with pytest.raises(ConfigError, match="already holds a run"):
        RunRecord.open(tmp_path, config, False, "test", KEYS)
    with pytest.raises(ConfigError, match="different lr"):
        RunRecord.open(tmp_path, {"lr": 0.2}, True, "test", KEYS)
    resumed = RunRecord.open(tmp_path, config, True, "test", KEYS)
    assert resumed.start_epoch == 2 and resumed.history() == history
    restored = {}
    assert resumed.restore(lambda state: restored.update(weights=state["weights"])) is True
    assert torch.equal(restored["weights"], torch.arange(3))


def test_a_checkpoint_that_does_not_fit_is_a_one_line_error(tmp_path):
    record = RunRecord.open(tmp_path, {}, False, "test", KEYS)
    record.end_epoch(1, [], lambda: {"weights": torch.zeros(2)})
    resumed = RunRecord.open(tmp_path, {}, True, "test", KEYS)
    model = nn.Linear(3, 3)
    with pytest.raises(ConfigError, match="is not a checkpoint of test"):
        resumed.restore(lambda state: model.load_state_dict(state["weights"]))


def test_train_epoch_runs_each_minibatch_through_its_choice_and_reports_the_task(data):
    task = ImageClassification(data)
    model = Linear(data.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing moves: a fixed model
    picks = iter(range(100))
    loss, acc = train_epoch(model, task, optimizer, Runtime("cpu"), batch_size=64,
                            generator=torch.Generator().manual_seed(0), grad_clip=None,
                            choose=lambda: next(picks))
    assert model.choices == list(range(task.n_train_batches(64))) == list(range(7))  # 500 // 64
    model.choices.clear()
    with torch.no_grad():  # the same minibatches again: mean loss and accuracy of the task
        seen = [(model(x), y) for x, y in task.train_batches(64, torch.Generator().manual_seed(0))]
    assert loss == pytest.approx(sum(float(task.loss(o, y)) * len(y) for o, y in seen) / 448)
    assert acc == sum(int((o.argmax(1) == y).sum()) for o, y in seen) / 448


def test_before_sees_each_minibatch_ahead_of_its_choice_and_weight_step(data):
    """A relaxed method's alpha step: ``before(x, y)`` gets every training minibatch, each
    before the choice of that minibatch is drawn and before the weights move on it."""
    task = ImageClassification(data)
    model = Linear(data.num_classes)
    events: list = []
    weights = lambda: float(parameters_to_vector(model.parameters()).detach().norm())  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train_epoch(model, task, optimizer, Runtime("cpu"), batch_size=64,
                generator=torch.Generator().manual_seed(0), grad_clip=None,
                choose=lambda: events.append("choose") or len(events),
                before=lambda x, y: events.append((tuple(x.shape), y.clone(), weights())))
    batches = list(task.train_batches(64, torch.Generator().manual_seed(0)))
    seen = [e for e in events if e != "choose"]
    assert events[::2] == seen and events[1::2] == ["choose"] * len(batches)
    assert [torch.equal(y, b[1]) for (_shape, y, _w), b in zip(seen, batches, strict=True)] \
        == [True] * len(batches)
    assert len({w for _s, _y, w in seen}) == len(batches)  # a weight step between each two


def test_a_resume_refuses_a_checkpoint_without_the_loops_keys_naming_the_loop(tmp_path):
    record = RunRecord.open(tmp_path, {}, False, "test", KEYS)
    record.end_epoch(1, [], lambda: {})  # config, epoch and history, but no "weights"
    with pytest.raises(ConfigError, match=r"is not a checkpoint of test \(no weights\)"):
        RunRecord.open(tmp_path, {}, True, "test", KEYS)


def test_train_epoch_clips_the_gradient_norm_of_each_step(data):
    task = ImageClassification(data)
    torch.manual_seed(0)
    model = Linear(data.num_classes)

    def moved(grad_clip: float | None) -> float:
        start = parameters_to_vector(model.parameters()).detach().clone()
        train_epoch(model, task, torch.optim.SGD(model.parameters(), lr=1.0), Runtime("cpu"),
                    batch_size=250, generator=torch.Generator().manual_seed(0),
                    grad_clip=grad_clip)
        step = parameters_to_vector(model.parameters()).detach() - start
        vector_to_parameters(start, model.parameters())  # the same start for the next call
        return float(step.norm())

    assert moved(1e-3) <= 2 * 1e-3 * (1 + 1e-4)  # two steps of lr 1 on a gradient of norm <= 1e-3
    assert moved(None) > 100 * 2e-3  # unclipped, the same epoch moves far more


def test_train_epoch_advances_the_bar_once_per_minibatch_showing_its_loss(data, capsys):
    task = ImageClassification(data)
    model = Linear(data.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # a fixed model
    bar = PlainProgress(total=7, unit="batch", desc="train")
    train_epoch(model, task, optimizer, Runtime("cpu"), batch_size=64,
                generator=torch.Generator().manual_seed(0), grad_clip=None, bar=bar)
    with torch.no_grad():
        losses = [float(task.loss(model(x), y))
                  for x, y in task.train_batches(64, torch.Generator().manual_seed(0))]
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        f"train: batch {n}/7, loss={value:.3f}" for n, value in enumerate(losses, 1)]


def test_train_epoch_trains_on_the_tasks_loss(data):
    class Squared(ImageClassification):
        """A task with another loss: the loop must use it, not cross-entropy."""

        def loss(self, output, target, reduction="mean"):
            return (output ** 2).mean()

    task = Squared(data)
    torch.manual_seed(0)  # the initial weights, not whatever state earlier tests left behind
    model = Linear(data.num_classes)

    def epoch(lr: float) -> float:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        return train_epoch(model, task, optimizer, Runtime("cpu"), batch_size=64,
                           generator=torch.Generator().manual_seed(0), grad_clip=None)[0]

    with torch.no_grad():
        squared = [float((model(x) ** 2).mean())
                   for x, _y in task.train_batches(64, torch.Generator().manual_seed(0))]
    untrained = sum(squared) / len(squared)
    assert epoch(0.0) == pytest.approx(untrained)  # the task's loss is reported
    losses = [epoch(0.01) for _ in range(3)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.6 * untrained  # trained on


def test_image_classification_trains_on_its_split_with_its_cutout(data):
    whole = ImageClassification(data, data.train + data.valid, cutout=4)
    assert whole.n_train_batches(100) == 7 and ImageClassification(data).n_train_batches(100) == 5
    x, _y = next(iter(whole.train_batches(100, torch.Generator().manual_seed(0))))
    assert (x == 0).flatten(1).sum(1).min() > 0  # a square erased from every image


def test_network_options_check_each_field():
    NetworkOptions().check()
    for bad, message in [({"channels": 0}, "channels"), ({"layers": 0}, "layers"),
                         ({"batch_size": 0}, "batch_size"), ({"stem_stride": 3}, "stem_stride")]:
        with pytest.raises(ConfigError, match=message):
            NetworkOptions(**bad).check()


@pytest.mark.parametrize("defaults", [WS_NETWORK, TRAIN_NETWORK])
def test_network_options_come_back_from_the_command_line_with_the_commands_defaults(defaults):
    parser = argparse.ArgumentParser()
    add_training_options(parser, defaults)
    assert NetworkOptions.from_args(parser.parse_args([])) == defaults
    args = parser.parse_args(["--channels", "4", "--layers", "3", "--stem-stride", "2",
                              "--batch-size", "8"])
    assert NetworkOptions.from_args(args) == NetworkOptions(4, 3, 2, 8)


# ----- EpochLoop: what every trainer's epochs share ---------------------------------------------
class RecordingBar:
    """A progress bar that remembers what it was told."""

    def __init__(self):
        self.updates, self.postfixes, self.closed = 0, [], False

    def set_postfix(self, refresh=True, **postfix):
        self.postfixes.append(postfix)

    def update(self, n):
        self.updates += n

    def close(self):
        self.closed = True


def epochs_of(done: list[int], fail_at: int | None = None):
    def one_epoch(epoch: int) -> tuple[dict, dict]:
        if epoch == fail_at:
            raise KeyboardInterrupt
        time.sleep(0.01)  # an epoch that takes measurable time
        done.append(epoch)
        return {"lr": 0.1 * epoch, "train_loss": float(epoch)}, {"loss": f"{epoch}"}
    return one_epoch


def test_epoch_loop_runs_every_epoch_and_checkpoints_each_row_and_state(tmp_path):
    record = RunRecord.open(tmp_path, {"run": 1}, False, "test", KEYS)
    bar, done = RecordingBar(), []
    loop = EpochLoop(record, 3, bar)
    assert not loop.restore(lambda state: pytest.fail("a fresh run has nothing to load"))
    assert loop.wall_s == 0.0  # a fresh run's clock starts at zero
    started = time.perf_counter()
    history = loop.run(epochs_of(done), lambda: {"weights": torch.tensor([len(done)])})
    elapsed = time.perf_counter() - started
    assert done == [0, 1, 2]
    assert [list(row) for row in history] == [["epoch", "lr", "train_loss", "epoch_s",
                                               "wall_s"]] * 3
    assert [row["epoch"] for row in history] == [1, 2, 3]
    walls = [row["wall_s"] for row in history]
    assert walls == sorted(walls) and 0.03 <= walls[-1] <= elapsed + 1e-3
    assert walls[-1] <= round(loop.wall_s, 3)  # and the clock goes on after the last epoch
    for row in history:  # seconds to the millisecond: each epoch's own, and the run's so far
        assert 0.01 <= row["epoch_s"] <= row["wall_s"] <= elapsed + 1e-3
        assert row["epoch_s"] == round(row["epoch_s"], 3) and row["wall_s"] == round(row["wall_s"], 3)
    assert bar.updates == 3 and bar.postfixes == [{"loss": "0"}, {"loss": "1"}, {"loss": "2"}]
    assert bar.closed
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    assert state["epoch"] == 3 and state["history"] == history
    assert state["weights"].tolist() == [3] and state["wall_s"] == pytest.approx(walls[-1],
                                                                                 abs=1e-3)
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == history


def test_epoch_loop_resumes_after_the_last_checkpoint_with_its_clock_and_history(tmp_path):
    first = EpochLoop(RunRecord.open(tmp_path, {}, False, "test", KEYS), 4, RecordingBar())
    with pytest.raises(KeyboardInterrupt):  # stopped during the third epoch
        first.run(epochs_of([], fail_at=2), lambda: {"weights": torch.zeros(1)})
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    saved["wall_s"] = 100.0  # as if the first part had taken 100 s
    torch.save(saved, tmp_path / CHECKPOINT)
    loaded, done, bar = [], [], RecordingBar()
    loop = EpochLoop(RunRecord.open(tmp_path, {}, True, "test", KEYS), 4, bar)
    assert loop.restore(lambda state: loaded.append(state["epoch"]))
    assert loaded == [2] and loop.wall_s == 100.0  # the clock goes on from the checkpoint
    history = loop.run(epochs_of(done), lambda: {"weights": torch.zeros(1)})
    assert done == [2, 3] and [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[:2] == saved["history"]
    assert 100.0 <= history[2]["wall_s"] <= history[3]["wall_s"] < 160
    assert bar.updates == 2 and bar.closed


def test_epoch_loop_closes_its_bar_when_an_epoch_fails(tmp_path):
    bar = RecordingBar()
    loop = EpochLoop(RunRecord.open(None, {}, False, "test", KEYS), 3, bar)
    with pytest.raises(KeyboardInterrupt):
        loop.run(epochs_of([], fail_at=1), lambda: pytest.fail("no directory, no state"))
    assert bar.closed and bar.updates == 1


def test_epoch_loop_leaves_a_minibatch_bar_to_the_trainer_and_can_start_its_clock_earlier():
    bar = RecordingBar()
    started = time.perf_counter() - 50.0  # set-up that took 50 s before the first epoch
    loop = EpochLoop(RunRecord.open(None, {}, False, "test", KEYS), 2, bar,
                     bar_counts_epochs=False, started=started)
    history = loop.run(epochs_of([]), dict)
    assert bar.updates == 0 and len(bar.postfixes) == 2  # train_epoch counts the minibatches
    # rows keep the clock to the millisecond: compare like with like
    assert 50.0 <= history[0]["wall_s"] <= history[1]["wall_s"] <= round(loop.wall_s, 3) < 60.0


def test_an_epoch_bar_of_a_resumed_run_counts_on_from_the_checkpoints_epoch(tmp_path, capsys):
    first = EpochLoop(RunRecord.open(tmp_path, {}, False, "test", KEYS), 4, RecordingBar())
    with pytest.raises(KeyboardInterrupt):  # two epochs done
        first.run(epochs_of([], fail_at=2), lambda: {"weights": torch.zeros(1)})
    loop = EpochLoop.with_epoch_bar(RunRecord.open(tmp_path, {}, True, "test", KEYS), 4, True,
                                    "resumed")
    loop.restore(lambda state: None)
    loop.run(epochs_of([]), lambda: {"weights": torch.zeros(1)})
    lines = [line.split(", loss=")[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["resumed: epoch 3/4", "resumed: epoch 4/4"]
    quiet = EpochLoop.with_epoch_bar(RunRecord.open(None, {}, False, "test", KEYS), 1, False, "q")
    quiet.run(epochs_of([]), dict)
    assert capsys.readouterr().err == ""
