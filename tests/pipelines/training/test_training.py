"""Final training: beats chance on digits, drop-path ramps up, every ``nao train`` flag works,
bad input is one line and exit 2."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import time

import numpy as np
import pytest
import torch
from support import kill_after_epoch
from torch.nn.utils import parameters_to_vector

from nao.errors import ConfigError
from pipelines.cli import main
from pipelines.training import final
from pipelines.training.data import Split, load_data
from pipelines.training.final import (
    CHECKPOINT_KEYS,
    WHAT,
    TrainResult,
    accuracy,
    train_architecture,
    with_auxiliary,
)
from pipelines.training.run_files import CHECKPOINT, read_checkpoint, save_checkpoint
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import get_space

HEAD_MOVED = 0.01  # relative change of the auxiliary classifier over one short epoch
MARGIN = 2  # "clearly above" the majority-class rate: twice what a one-class predictor gets
TINY = ["--data", "digits", "--channels", "4", "--layers", "1", "--batch-size", "64",
        "--device", "cpu", "--threads", "1", "--quiet", "--json"]


@pytest.fixture(scope="module")
def space():
    return get_space("enas-micro")


@pytest.fixture(scope="module")
def majority_rate() -> float:
    """Test accuracy of always predicting digits' most common test class (0.1028)."""
    labels = load_data("digits").test.labels
    return float(torch.bincount(labels).max()) / len(labels)


@pytest.fixture(scope="module")
def arch_text(space):
    return space.to_string(space.sample(np.random.default_rng(0)))


def test_training_on_digits_beats_chance_and_ramps_drop_path(space, arch_text, majority_rate):
    data = load_data("digits")
    result = train_architecture(space, space.from_string(arch_text), data, epochs=3, channels=8,
                                layers=1, lr=0.05, drop_path=0.3, runtime=Runtime("cpu"),
                                progress=False)
    assert result.test_accuracy > MARGIN * majority_rate
    assert result.params > 0
    ramp = [h["drop_path"] for h in result.history]
    assert ramp[0] == 0.0 and ramp == sorted(ramp) and ramp[-1] < 0.3


def test_the_drop_path_ramp_reaches_the_forward_pass_each_epoch(space, arch_text, monkeypatch):
    from search_spaces import enas_micro_net

    used: list[float] = []
    real = enas_micro_net.drop_path

    def recording(x, prob):
        used.append(prob)
        return real(x, prob)

    monkeypatch.setattr(enas_micro_net, "drop_path", recording)
    data = load_data("digits", train_size=128)
    result = train_architecture(space, space.from_string(arch_text), data, epochs=3, channels=4,
                                layers=1, batch_size=64, drop_path=0.3, runtime=Runtime("cpu"),
                                progress=False)
    per_epoch = list(dict.fromkeys(used))  # in the order first used
    assert per_epoch == pytest.approx([0.0, 0.1, 0.2])  # 0.3 * epoch / 3, epoch 0, 1, 2
    assert per_epoch == pytest.approx([h["drop_path"] for h in result.history])

def test_a_final_training_run_uses_the_papers_settings_and_records_them(space, arch_text,
                                                                       tmp_path, monkeypatch):
    """Two epochs on 128 digits training images + 360 validation ones (tested on 90 of those),
    with a directory and plain progress lines: what it trains on, with which optimizer and
    schedule, what its checkpoint, log and result hold. One run for all (a module fixture's
    run would be invisible to mutation testing's per-test coverage)."""
    data = load_data("digits", train_size=128)
    valid = data.valid
    # a test split of its own, apart from the validation split: the run must score this one
    data = dataclasses.replace(data, test=Split(valid.images[:90], valid.labels[:90]))
    built, tasks = [], []
    real_build = type(space).build
    monkeypatch.setattr(type(space), "build",
                        lambda self, *a, **k: built.append(real_build(self, *a, **k)) or built[-1])

    monkeypatch.setattr(final, "ImageClassification",
                        lambda *a, **k: tasks.append(ImageClassification(*a, **k)) or tasks[-1])
    scored = []  # the splits the run scores (two splits' accuracies can tie on a weak model)
    monkeypatch.setattr(final, "accuracy",
                        lambda m, d, split, *a, **k: scored.append(split) or accuracy(m, d, split,
                                                                                       *a, **k))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = train_architecture(space, space.from_string(arch_text), data, epochs=2,
                                    channels=4, layers=1, batch_size=61, lr=0.05, lr_min=0.01,
                                    drop_path=0.2, random_state=5, runtime=Runtime("cpu"),
                                    out_dir=tmp_path)
    state = read_checkpoint(tmp_path / CHECKPOINT, WHAT, CHECKPOINT_KEYS)
    model, history = built[0], result.history

    # the training and validation images together, with the data set's cutout (digits: 2)
    (task,) = tasks
    assert len(task.train_split) == 488 and task.cutout == 2
    steps = 488 // 61
    lines = [line.split(", loss=")[0] for line in err.getvalue().splitlines()]
    assert lines == [f"train: batch {steps}/{2 * steps}", f"train: batch {2 * steps}/{2 * steps}"]

    # SGD with momentum 0.9 and weight decay 3e-4, one cosine period from lr to lr_min
    group = state["optimizer"]["param_groups"][0]
    assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.9, 3e-4, False)
    scheduler = state["scheduler"]
    assert (scheduler["T_max"], scheduler["eta_min"], scheduler["base_lrs"]) == (2, 0.01, [0.05])
    assert [h["lr"] for h in history] == pytest.approx(
        [0.05, 0.01 + 0.04 * (1 + math.cos(math.pi / 2)) / 2])

    # the checkpoint's whole configuration, its history, and the log
    assert state["config"] == {
        "space": "enas-micro", "arch": arch_text, "data": data.summary(), "epochs": 2,
        "channels": 4, "layers": 1, "stem_stride": 1, "batch_size": 61, "lr": 0.05,
        "lr_min": 0.01, "momentum": 0.9, "weight_decay": 3e-4, "grad_clip": 5.0, "cutout": 2,
        "drop_path": 0.2, "auxiliary_weight": 0.4, "seed": 5}
    assert state["epoch"] == 2 and state["history"] == history
    assert [sorted(h) for h in history] == [
        ["drop_path", "epoch", "epoch_s", "lr", "train_acc", "train_loss", "wall_s"]] * 2
    assert [(h["epoch"], h["drop_path"]) for h in history] == [(1, 0.0), (2, 0.1)]
    assert all(0 < h["train_acc"] <= 1 and h["train_loss"] > 0 for h in history)
    walls = [h["wall_s"] for h in history]
    assert 0 < walls[0] <= walls[1] <= result.wall_s and all(round(w, 3) == w for w in walls)
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == history

    # the test split's accuracy, the size of the network without its auxiliary head
    assert result.test_accuracy == accuracy(model, data, data.test, Runtime("cpu"))
    assert len(scored) == 1 and scored[0] is data.test
    assert result.params == model.num_params() > 0 and model.auxiliary is not None
    assert result.to_dict() == {"test_accuracy": result.test_accuracy, "params": result.params,
                                "wall_s": round(result.wall_s, 3), "history": history}


def test_resume_after_a_kill_gives_the_uninterrupted_result(space, arch_text, tmp_path,
                                                            monkeypatch, capsys):
    began = time.perf_counter()
    data = load_data("digits", train_size=256)
    kwargs = {"epochs": 3, "channels": 4, "layers": 1, "lr": 0.05, "drop_path": 0.2,
              "runtime": Runtime("cpu"), "random_state": 3, "progress": False}
    arch = space.from_string(arch_text)
    whole = train_architecture(space, arch, data, **kwargs)
    kill_after_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_architecture(space, arch, data, out_dir=tmp_path, **kwargs)
    monkeypatch.undo()
    assert (tmp_path / "log.csv").read_text().count("\n") == 3  # header + 2 epochs
    with pytest.raises(ConfigError, match="already holds a run"):
        train_architecture(space, arch, data, out_dir=tmp_path, **kwargs)
    with pytest.raises(ConfigError, match="different lr"):
        train_architecture(space, arch, data, out_dir=tmp_path, resume=True,
                           **{**kwargs, "lr": 0.1})
    capsys.readouterr()
    resumed = train_architecture(space, arch, data, out_dir=tmp_path, resume=True,
                                 **{**kwargs, "progress": True})
    steps = (256 + len(data.valid)) // 64
    # the bar goes on from the two epochs done: one line, at the end of the third
    assert [line.split(",")[0] for line in capsys.readouterr().err.splitlines()] == [
        f"train: batch {3 * steps}/{3 * steps}"]
    assert resumed.test_accuracy == whole.test_accuracy
    timed = ("wall_s", "epoch_s")
    strip = [{k: v for k, v in h.items() if k not in timed} for h in resumed.history]
    assert strip == [{k: v for k, v in h.items() if k not in timed} for h in whole.history]
    walls = [h["wall_s"] for h in resumed.history]  # the clock goes on from the saved time
    assert 0 < walls[0] <= walls[1] <= walls[2] <= resumed.wall_s <= time.perf_counter() - began
    with pytest.raises(ConfigError, match="needs --out"):
        train_architecture(space, arch, data, resume=True, **kwargs)


def test_the_minibatch_order_depends_on_the_seed_alone(space, arch_text, monkeypatch):
    """The data order comes from a generator of its own: a network of another size (whose
    initialisation draws other numbers) sees the same minibatches, another seed others."""
    seen: list[list[int]] = []
    real = ImageClassification.train_batches

    def recording(self, batch_size, generator):
        for x, y in real(self, batch_size, generator):
            seen[-1].append(int(y[:8] @ torch.arange(8)))  # a fingerprint of the minibatch
            yield x, y

    monkeypatch.setattr(ImageClassification, "train_batches", recording)
    data = load_data("standin:1x8x8")
    for channels, seed in [(2, 0), (4, 0), (2, 1)]:
        seen.append([])
        train_architecture(space, space.from_string(arch_text), data, epochs=1,
                           channels=channels, layers=1, batch_size=175, random_state=seed,
                           runtime=Runtime("cpu"), progress=False)
    assert len(seen[0]) == 4 and seen[0] == seen[1] != seen[2]


def test_final_training_clips_the_gradient_norm(space, arch_text, monkeypatch):
    built = []
    real_build = type(space).build

    def build_and_copy(self, *args, **kwargs):
        model = real_build(self, *args, **kwargs)
        built.append((model, parameters_to_vector(model.parameters()).detach().clone()))
        return model

    monkeypatch.setattr(type(space), "build", build_and_copy)
    data = load_data("standin:1x8x8")
    for clip in (1e-7, 5.0):
        train_architecture(space, space.from_string(arch_text), data, epochs=1, channels=2,
                           layers=1, batch_size=350, lr=0.1, weight_decay=0.0, grad_clip=clip,
                           runtime=Runtime("cpu"), progress=False)
    moved = [float((parameters_to_vector(m.parameters()).detach() - start).norm())
             for m, start in built]
    # two steps of lr 0.1 (momentum 0.9: at most 10 times a step) on gradients of norm <= 1e-7
    assert moved[0] <= 2 * 10 * 0.1 * 1e-7 < 1e-3 < moved[1]


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"drop_path": 1.0}, r"drop-path must be in \[0, 1\), got 1.0"),
    ({"drop_path": -0.1}, r"drop-path must be in \[0, 1\), got -0.1"),
    ({"cutout": -1}, "cutout must be at least 0, got -1"),
    ({"auxiliary_weight": -0.1}, "auxiliary weight must be at least 0, got -0.1"),
    ({"batch_size": 10_000}, "batch size 10000 exceeds the 700 training images"),
    ({"channels": 0}, "channels"),
])
def test_bad_training_options_are_config_errors(space, arch_text, kwargs, message):
    data = load_data("standin:1x8x8")
    with pytest.raises(ConfigError, match=f"^{message}"):
        train_architecture(space, space.from_string(arch_text), data,
                           **{"epochs": 1, "progress": False, **kwargs})


def test_the_options_lowest_allowed_values_train(space, arch_text, monkeypatch):
    """drop-path 0, no auxiliary head, no cutout, and a batch of every training image (one
    step an epoch) are all accepted; without a runtime the device is picked (``auto``)."""
    built = []
    real_build = type(space).build
    monkeypatch.setattr(type(space), "build",
                        lambda self, *a, **k: built.append(real_build(self, *a, **k)) or built[-1])
    data = load_data("standin:1x8x8")  # 500 training + 200 validation images
    result = train_architecture(space, space.from_string(arch_text), data, epochs=1, channels=4,
                                layers=1, batch_size=700, drop_path=0.0, auxiliary_weight=0.0,
                                cutout=0, progress=False)
    assert [h["drop_path"] for h in result.history] == [0.0] and 0 <= result.test_accuracy <= 1
    assert built[0].auxiliary is None  # weight 0: no head built


def test_a_resume_from_a_checkpoint_without_the_training_keys_names_nao_train(space, arch_text,
                                                                             tmp_path):
    data = load_data("standin:1x8x8")
    save_checkpoint(tmp_path, {"config": {}, "epoch": 1, "history": []})
    with pytest.raises(ConfigError, match=r"is not a checkpoint of nao train \(no model, "):
        train_architecture(space, space.from_string(arch_text), data, epochs=1,
                           out_dir=tmp_path, resume=True, progress=False)


def test_the_result_reports_its_wall_time_to_the_millisecond():
    result = TrainResult(test_accuracy=0.5, params=10, wall_s=1.23456, history=[{"epoch": 1}])
    assert result.to_dict() == {"test_accuracy": 0.5, "params": 10, "wall_s": 1.235,
                                "history": [{"epoch": 1}]}


def test_the_loss_adds_the_auxiliary_heads_loss_at_its_weight():
    data = load_data("standin:1x8x8")
    task = ImageClassification(data)
    logits, aux = torch.randn(6, 10), torch.randn(6, 10)
    y = torch.arange(6)
    out, value = with_auxiliary(task, 0.4)((logits, aux), y)
    assert out is logits
    assert float(value) == pytest.approx(float(task.loss(logits, y) + 0.4 * task.loss(aux, y)))
    out, value = with_auxiliary(task, 0.4)(logits, y)  # no head: the task's loss alone
    assert out is logits and float(value) == pytest.approx(float(task.loss(logits, y)))


def test_accuracy_is_measured_in_eval_mode_over_the_whole_split():
    class ModeProbe(torch.nn.Module):
        """A linear classifier in eval mode; in training mode it always says class 0."""

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            logits = self.fc(x.flatten(1))
            return logits if not self.training else torch.eye(10)[[0] * len(x)]

    data = load_data("standin:1x8x8")
    torch.manual_seed(0)
    model = ModeProbe().eval()
    x = (data.test.images.float() / 255 - data.mean[0]) / data.std[0]
    with torch.no_grad():
        expected = int((model(x).argmax(1) == data.test.labels).sum()) / len(data.test)
    assert expected != float((data.test.labels == 0).float().mean())
    model.train()
    assert accuracy(model, data, data.test, Runtime("cpu"), batch_size=64) == expected
    assert not model.training
    assert accuracy(model, data, data.test, Runtime("cpu")) == expected


def test_cli_train_reports_test_accuracy_params_and_time(arch_text, majority_rate, capsys):
    code = main(["train", "--space", "enas-micro", "--arch", arch_text, "--epochs", "2",
                 "--seed", "1", "--lr", "0.05", "--cutout", "0", "--drop-path", "0.1",
                 "--auxiliary-weight", "0.4", *TINY])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    out = json.loads(captured.out)
    assert {"test_accuracy", "params", "wall_s"} <= set(out)
    assert out["test_accuracy"] > MARGIN * majority_rate  # measured 0.38-0.44 over seeds 1-3
    assert out["seed"] == 1 and out["epochs"] == 2
    assert out["arch"] == arch_text and out["data"]["name"] == "digits"


def test_cli_train_auxiliary_weight_zero_builds_no_head(space, arch_text, monkeypatch,
                                                       capsys):
    """--auxiliary-weight 0 builds no head; a positive weight builds one and trains it, which
    only its loss in the total can do (SGD skips parameters that get no gradient)."""
    built = []
    real_build = type(space).build

    def build_and_keep(self, *args, **kwargs):
        model = real_build(self, *args, **kwargs)
        head = model.auxiliary
        initial = None if head is None else {k: v.detach().clone()
                                             for k, v in head.named_parameters()}
        built.append((model, initial))
        return model

    monkeypatch.setattr(type(space), "build", build_and_keep)
    args = ["train", "--arch", arch_text, "--epochs", "1", *TINY, "--train-size", "200"]
    main([*args, "--auxiliary-weight", "0"])
    without = json.loads(capsys.readouterr().out)
    main([*args, "--auxiliary-weight", "0.4"])
    with_head = json.loads(capsys.readouterr().out)
    (plain, _), (model, initial) = built
    assert plain.auxiliary is None
    assert model.auxiliary is not None and initial
    start = initial["classifier.weight"]
    moved = float((model.auxiliary.classifier.weight.detach() - start).norm() / start.norm())
    assert moved > HEAD_MOVED  # its loss is used: measured 0.087; weight decay alone 0.0002
    assert without["params"] == with_head["params"]  # the head is not counted either way
    assert with_head["params"] == model.num_params() < model.num_params(include_auxiliary=True)


def test_cli_train_stem_stride_keeps_the_weights_and_changes_the_network(arch_text, capsys):
    args = ["train", "--arch", arch_text, "--epochs", "1", *TINY, "--train-size", "200"]
    main(args)
    plain = json.loads(capsys.readouterr().out)
    main([*args, "--stem-stride", "2"])
    strided = json.loads(capsys.readouterr().out)
    assert plain["stem_stride"] == 1 and strided["stem_stride"] == 2
    assert strided["params"] == plain["params"]  # a stride adds no weights
    assert strided["history"][0]["train_loss"] != plain["history"][0]["train_loss"]


def test_cli_train_train_size_subsamples(arch_text, capsys):
    assert main(["train", "--arch", arch_text, "--epochs", "1", *TINY, "--train-size", "200"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["train"] == 200


def test_cli_train_summary_and_progress(arch_text, capsys):
    argv = [a for a in TINY if a not in ("--quiet", "--json")]
    assert main(["train", "--arch", arch_text, "--epochs", "1", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("test accuracy") and "train" in captured.err


def test_cli_train_reads_data_dir_and_passes_download(arch_text, monkeypatch, tmp_path, capsys):
    seen = []

    class FakeCIFAR:
        classes = list(range(10))

        def __init__(self, root, train, download):
            seen.append((root, download))
            n = 100 if train else 20
            self.data = np.zeros((n, 8, 8, 3), dtype=np.uint8)
            self.targets = list(np.arange(n) % 10)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR)
    code = main(["train", "--arch", arch_text, "--epochs", "1", *TINY, "--data", "cifar10",
                 "--data-dir", str(tmp_path), "--download", "--batch-size", "32"])
    assert code == 0 and seen == [(str(tmp_path), True)] * 2


@pytest.mark.parametrize("argv, message", [
    (["--arch", "normal: 0 conv 1 identity"], "enas-micro"),
    (["--arch", "x", "--space", "nowhere"], "unknown search space"),
    (["--epochs", "0"], "at least 1"),
    (["--drop-path", "1.5"], "[0, 1)"),
    (["--cutout", "-2"], "0 or more"),
    (["--auxiliary-weight", "-1"], "0 or more"),
    (["--lr", "0"], "more than 0"),
    (["--device", "gpu"], "invalid choice"),
    (["--stem-stride", "3"], "invalid choice"),
    (["--resume"], "needs --out"),
    (["--data", "fashion-mnist", "--data-dir", "/nonexistent"], "dataset-fashion-mnist"),
    (["--data-dir", "/tmp"], "ships with scikit-learn and takes no --data-dir"),
    (["--data", "standin", "--data-dir", "/tmp"], "takes no --data-dir"),
    (["--download"], "only fetches CIFAR"),
    (["--batch-size", "100000"], "exceeds"),
])
def test_cli_train_bad_input_exits_2_with_one_line(arch_text, argv, message, capsys):
    base = ["train", "--arch", arch_text, "--epochs", "1", *TINY]
    try:
        code = main([*base, *argv])
    except SystemExit as exc:
        code = int(exc.code)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["train", "ws"])
@pytest.mark.parametrize("argv, message", [
    (["--data-dir", "/tmp"], "takes no --data-dir"),
    (["--data", "fashion-mnist", "--download"], "only fetches CIFAR"),
    (["--data", "standin:0x1x1"], "CxHxW"),
])
def test_bad_data_options_are_refused_before_out_is_created(arch_text, tmp_path, command, argv,
                                                            message, capsys):
    out = tmp_path / "run"
    base = ["train", "--arch", arch_text] if command == "train" else ["ws"]
    code = main([*base, "--epochs", "1", *TINY, "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_train_device_cuda_without_a_gpu_exits_2(arch_text, capsys):
    assert main(["train", "--arch", arch_text, *TINY, "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
