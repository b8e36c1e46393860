"""Final training: beats chance on digits, drop-path ramps up, every ``nao train`` flag works,
bad input is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import kill_after_epoch

from nao.errors import ConfigError
from pipelines.cli import main
from pipelines.training.data import load_data
from pipelines.training.final import train_architecture
from pipelines.training.runtime import Runtime
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


def test_resume_after_a_kill_gives_the_uninterrupted_result(space, arch_text, tmp_path,
                                                            monkeypatch):
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
    resumed = train_architecture(space, arch, data, out_dir=tmp_path, resume=True, **kwargs)
    assert resumed.test_accuracy == whole.test_accuracy
    strip = [{k: v for k, v in h.items() if k != "wall_s"} for h in resumed.history]
    assert strip == [{k: v for k, v in h.items() if k != "wall_s"} for h in whole.history]
    with pytest.raises(ConfigError, match="needs --out"):
        train_architecture(space, arch, data, resume=True, **kwargs)


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"drop_path": 1.0}, {"cutout": -1},
                                    {"auxiliary_weight": -0.1}, {"batch_size": 10_000}])
def test_bad_training_options_are_config_errors(space, arch_text, kwargs):
    data = load_data("standin:1x8x8")
    with pytest.raises(ConfigError):
        train_architecture(space, space.from_string(arch_text), data,
                           **{"epochs": 1, "progress": False, **kwargs})


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
