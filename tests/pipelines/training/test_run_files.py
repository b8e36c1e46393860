"""Run directories of ``nao train`` / ``nao ws``: a checkpoint is read as plain data (a crafted
one runs no code), every file that is not a checkpoint of the resuming command is one line and
exit 2, and ``--out`` is checked and locked before any data is loaded."""

from __future__ import annotations

import contextlib
import pathlib

import numpy as np
import pytest
import torch
from support import TouchOnLoad, assert_one_line_error, read_only, run_cli, write_generic_bad

import pipelines.commands.data_options as data_options
from pipelines.cli import main
from pipelines.training.final import CHECKPOINT_KEYS
from pipelines.training.run_dir import RunDirLock
from pipelines.training.run_files import CHECKPOINT, read_checkpoint, save_checkpoint
from search_spaces import get_space

ARCH = get_space("enas-micro").to_string(get_space("enas-micro").sample(np.random.default_rng(0)))
TINY = ["--data", "standin:1x8x8", "--epochs", "1", "--channels", "4", "--layers", "1",
        "--batch-size", "50", "--device", "cpu", "--threads", "1", "--quiet", "--json"]
COMMANDS = {
    "train": ["train", "--arch", ARCH, *TINY],
    "ws": ["ws", "--controller", "random", "--pool-size", "4", *TINY],
}


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> bytes:
    """The bytes of a real one-epoch ``nao train`` checkpoint."""
    out = tmp_path_factory.mktemp("real")
    assert main([*COMMANDS["train"], "--out", str(out)]) == 0
    return (out / CHECKPOINT).read_bytes()


def write_bad(path: pathlib.Path, kind: str, marker: pathlib.Path, real: bytes) -> None:
    """A ``checkpoint.pt`` of one bad kind at ``path``."""
    state = {"config": {}, **{k: 0 for k in CHECKPOINT_KEYS}}
    if write_generic_bad(path, kind, marker, real):
        return
    if kind == "torch-code":  # every key a checkpoint needs, and code in the config
        torch.save({**state, "config": {"x": TouchOnLoad(marker)}}, path)
    elif kind == "missing-keys":
        torch.save({"config": {}, "epoch": 1}, path)
    elif kind == "config-not-a-dict":
        torch.save({**state, "config": [1]}, path)
    elif kind == "directory":
        path.mkdir()
    else:
        raise AssertionError(kind)


BAD_KINDS = ["torch-code", "pickle-code", "garbage", "empty", "truncated", "list", "tensor",
             "missing-keys", "config-not-a-dict", "directory"]


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if the command gets as far as loading its data set."""

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the run directory was checked")

    monkeypatch.setattr(data_options, "load_data", refuse)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_resume_from_a_bad_checkpoint_is_one_line_exit_2_and_runs_no_code(
        command, kind, tmp_path, capsys, real_checkpoint, no_data_loading):
    marker = tmp_path / "MARKER"
    run = tmp_path / "run"
    run.mkdir()
    write_bad(run / CHECKPOINT, kind, marker, real_checkpoint)
    code, _, err = run_cli(capsys, *COMMANDS[command], "--out", str(run), "--resume")
    assert_one_line_error(code, err)
    assert f"is not a checkpoint of nao {command}" in err and str(run / CHECKPOINT) in err
    assert "remove it or choose another --out" in err
    assert not marker.exists()


def test_the_code_payloads_do_run_when_unpickled_unsafely(tmp_path, real_checkpoint):
    """The crafted files above are real attacks: an unrestricted load creates the marker."""
    for kind in ("torch-code", "pickle-code"):
        marker = tmp_path / f"MARKER-{kind}"
        write_bad(tmp_path / kind, kind, marker, real_checkpoint)
        with contextlib.suppress(RuntimeError):  # the plain pickle has no torch magic number
            torch.load(tmp_path / kind, weights_only=False)
        assert marker.exists()


def test_a_checkpoint_of_the_other_command_is_refused(tmp_path, capsys, real_checkpoint,
                                                      no_data_loading):
    (tmp_path / CHECKPOINT).write_bytes(real_checkpoint)  # a nao train checkpoint
    code, _, err = run_cli(capsys, *COMMANDS["ws"], "--out", str(tmp_path), "--resume")
    assert_one_line_error(code, err)
    assert "not a checkpoint of nao ws (no supernet" in err


def test_a_checkpoint_whose_contents_do_not_fit_is_one_line(tmp_path, capsys, real_checkpoint):
    """Right keys and config, wrong weights: the restore's torch error becomes the one line."""
    (tmp_path / CHECKPOINT).write_bytes(real_checkpoint)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    state["model"] = {"stem.0.weight": torch.zeros(1)}
    torch.save(state, tmp_path / CHECKPOINT)
    code, _, err = run_cli(capsys, *COMMANDS["train"], "--out", str(tmp_path), "--resume")
    assert_one_line_error(code, err)
    assert "is not a checkpoint of nao train (RuntimeError" in err


def test_a_saved_checkpoint_holds_only_plain_data(tmp_path):
    """numpy scalars and arrays (the rl controller's baseline, say) are saved as Python numbers
    and lists, so the weights_only load accepts the file."""
    state = {"config": {"seed": np.int64(3)}, "baseline": np.float64(0.25),
             "scores": [np.float32(0.5)], "pair": (np.int64(1), "a"), "table": np.arange(3),
             "weights": torch.ones(2)}
    save_checkpoint(tmp_path, state)
    back = read_checkpoint(tmp_path / CHECKPOINT, "test", ("baseline",))
    assert back["config"] == {"seed": 3} and type(back["config"]["seed"]) is int
    assert back["baseline"] == 0.25 and type(back["baseline"]) is float
    assert back["scores"] == [0.5] and back["pair"] == (1, "a") and back["table"] == [0, 1, 2]
    assert torch.equal(back["weights"], torch.ones(2))


# ----- --out checked and locked before any work ------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("out, message", [
    ("FILE", "is a file, not a directory"),
    ("/sys/nao-run", "cannot write there"),
    ("/proc/nao-run", "cannot write there"),
])
def test_an_unwritable_out_is_one_line_before_loading_data(command, out, message, tmp_path,
                                                          capsys, no_data_loading):
    if out == "FILE":
        out = str(tmp_path / "a-file")
        pathlib.Path(out).write_text("not a directory")
    code, _, err = run_cli(capsys, *COMMANDS[command], "--out", out)
    assert_one_line_error(code, err, message, out)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_out_is_one_line_before_loading_data(command, tmp_path, capsys,
                                                        no_data_loading):
    with read_only(tmp_path):  # as root too, as CI runs
        code, _, err = run_cli(capsys, *COMMANDS[command], "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "cannot write there")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_writer_of_the_same_out_is_refused_before_loading_data(command, tmp_path,
                                                                       capsys, no_data_loading):
    with RunDirLock(tmp_path, "other run"):
        code, _, err = run_cli(capsys, *COMMANDS[command], "--out", str(tmp_path))
    assert_one_line_error(code, err)
    assert f"another nao {command} is writing to {tmp_path}" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_fresh_run_into_a_used_out_is_refused_before_loading_data(command, tmp_path, capsys,
                                                                   real_checkpoint,
                                                                   no_data_loading):
    (tmp_path / CHECKPOINT).write_bytes(real_checkpoint)
    code, _, err = run_cli(capsys, *COMMANDS[command], "--out", str(tmp_path))
    assert_one_line_error(code, err, "already holds a run")


@pytest.mark.parametrize("command", COMMANDS)
def test_resume_into_a_missing_out_is_refused_and_creates_nothing(command, tmp_path, capsys,
                                                                  no_data_loading):
    out = tmp_path / "never-made"
    code, _, err = run_cli(capsys, *COMMANDS[command], "--out", str(out), "--resume")
    assert_one_line_error(code, err, "no checkpoint")
    assert not out.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_the_lock_is_released_when_the_run_ends(command, tmp_path, capsys, monkeypatch):
    assert main([*COMMANDS[command], "--out", str(tmp_path)]) == 0
    RunDirLock(tmp_path).release()  # free again after a finished run

    def broken(*args, **kwargs):
        raise RuntimeError("the data set broke")

    monkeypatch.setattr(data_options, "load_data", broken)
    try:  # however the command line reports an unexpected error, the lock must go
        assert main([*COMMANDS[command], "--out", str(tmp_path / "failed")]) != 0
    except RuntimeError:
        pass
    RunDirLock(tmp_path / "failed").release()  # and after a failed one


# ----- defaults for a shared machine -----------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_the_commands_train_on_one_thread_by_default(command, capsys):
    """More threads stall each other on a busy CPU, so the default is one (docs/results.md)."""
    argv = list(COMMANDS[command])
    del argv[argv.index("--threads"):argv.index("--threads") + 2]
    torch.set_num_threads(2)
    try:
        assert main(argv) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)
