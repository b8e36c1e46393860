"""Ctrl-C on the commands that train or run many searches says truly what was kept, and a
bad controller option of ``nao ws`` is refused before any data is loaded."""

from __future__ import annotations

import numpy as np
import pytest

import pipelines.commands.benchmark as benchmark_command
import pipelines.commands.data_options as data_options
import pipelines.commands.train as train_command
import pipelines.commands.ws as ws_command
from pipelines.cli import main
from search_spaces import get_space

SPACE = get_space("enas-micro")
ARCH = SPACE.to_string(SPACE.sample(np.random.default_rng(0)))
TRAIN = ["train", "--arch", ARCH, "--data", "standin:1x8x8", "--epochs", "1", "--quiet"]
WS = ["ws", "--data", "standin:1x8x8", "--epochs", "1", "--quiet"]


def interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


@pytest.fixture
def interrupted_training(monkeypatch):
    monkeypatch.setattr(train_command, "train_architecture", interrupt)
    monkeypatch.setattr(ws_command.WeightSharingSearch, "fit", interrupt)


@pytest.mark.parametrize("argv", [TRAIN, WS], ids=["train", "ws"])
def test_interrupt_with_out_names_the_checkpoint_and_resume(capsys, tmp_path, argv,
                                                            interrupted_training):
    code = main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1
    assert str(tmp_path / "run" / "checkpoint.pt") in err[0] and "--resume" in err[0]


@pytest.mark.parametrize("argv", [TRAIN, WS], ids=["train", "ws"])
def test_interrupt_without_out_says_nothing_was_saved(capsys, argv, interrupted_training):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1
    assert "nothing was saved" in err[0] and "--out" in err[0]


def test_interrupted_benchmark_points_at_its_finished_searches(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark_command, "run_benchmark", interrupt)
    code = main(["benchmark", "--strategies", "random", "--budget", "5", "--seeds", "1",
                 "--quiet", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1
    assert str(tmp_path / "b" / "runs") in err[0]


@pytest.mark.parametrize("setting", ["bogus=1", "lr=abc", "nao_params.epoch=5"])
def test_ws_bad_controller_option_is_refused_before_data_loads(capsys, monkeypatch, setting):
    def no_data(*_args, **_kwargs):
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr(data_options, "load_data", no_data)
    code = main([*WS, "--set", setting])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("nao ws: error:")
