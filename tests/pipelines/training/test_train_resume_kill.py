"""Killed for real: a save cut off part-way leaves the previous checkpoint whole, and a
``nao train`` process killed with SIGKILL mid-run resumes to exactly the uninterrupted result."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pipelines.cli import main
from pipelines.oneshot.weight_sharing import CHECKPOINT_KEYS as WS_KEYS
from pipelines.oneshot.weight_sharing import WeightSharingSearch
from pipelines.training.data import load_data
from pipelines.training.final import CHECKPOINT_KEYS, train_architecture
from pipelines.training.run_files import CHECKPOINT, LOG_JSONL, read_checkpoint
from pipelines.training.runtime import Runtime
from search_spaces import get_space

DATA = "standin:1x8x8"
TRAIN_SIZE = 100  # a few minibatches per epoch: each test takes seconds
SPACE = get_space("enas-micro")
ARCH = SPACE.to_string(SPACE.sample(np.random.default_rng(0)))
KILL_WAIT_S = 120  # the subprocess imports torch first: generous on a busy machine


def without_wall(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("wall_s", "epoch_s")} for row in rows]


@pytest.fixture
def cut_off_second_save(monkeypatch):
    """``torch.save`` that writes half of the second checkpoint, then dies as a kill would."""
    real_save = torch.save
    calls = []

    def save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) != 2:
            return real_save(obj, path, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        with open(path, "wb") as fh:
            fh.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save)
    return calls


def assert_previous_checkpoint_intact(out, keys, calls) -> None:
    assert len(calls) == 2 and calls[1].name != CHECKPOINT  # the cut-off write was a temp file
    assert calls[1].exists() and calls[1].stat().st_size > 0  # ...that really holds half a file
    state = read_checkpoint(out / CHECKPOINT, "test", keys)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert len((out / LOG_JSONL).read_text().splitlines()) == 1


def test_a_save_cut_off_part_way_keeps_the_last_checkpoint_and_train_resumes(
        tmp_path, cut_off_second_save, monkeypatch):
    data = load_data(DATA, seed=0, train_size=TRAIN_SIZE)
    kwargs = {"epochs": 3, "channels": 4, "layers": 1, "batch_size": 100,
              "runtime": Runtime("cpu"), "random_state": 1, "progress": False}
    arch = SPACE.from_string(ARCH)
    with pytest.raises(KeyboardInterrupt):
        train_architecture(SPACE, arch, data, out_dir=tmp_path, **kwargs)
    assert_previous_checkpoint_intact(tmp_path, CHECKPOINT_KEYS, cut_off_second_save)
    monkeypatch.undo()
    resumed = train_architecture(SPACE, arch, data, out_dir=tmp_path, resume=True, **kwargs)
    whole = train_architecture(SPACE, arch, data, **kwargs)
    assert resumed.test_accuracy == whole.test_accuracy
    assert without_wall(resumed.history) == without_wall(whole.history)


def test_a_save_cut_off_part_way_keeps_the_last_checkpoint_and_ws_resumes(
        tmp_path, cut_off_second_save, monkeypatch):
    data = load_data(DATA, seed=0, train_size=TRAIN_SIZE)
    kwargs = {"epochs": 3, "channels": 4, "layers": 1, "batch_size": 50, "pool_size": 4,
              "eval_batches": 1, "final_candidates": 2, "device": "cpu", "progress": False,
              "random_state": 1}
    with pytest.raises(KeyboardInterrupt):
        WeightSharingSearch(SPACE, "rl", out_dir=tmp_path, **kwargs).fit(data)
    assert_previous_checkpoint_intact(tmp_path, WS_KEYS, cut_off_second_save)
    monkeypatch.undo()
    resumed = WeightSharingSearch(SPACE, "rl", out_dir=tmp_path, resume=True, **kwargs).fit(data)
    whole = WeightSharingSearch(SPACE, "rl", **kwargs).fit(data)
    assert resumed.best_arch_ == whole.best_arch_ and resumed.best_valid_ == whole.best_valid_
    assert without_wall(resumed.history_) == without_wall(whole.history_)


@pytest.mark.slow
def test_nao_train_killed_with_sigkill_mid_run_resumes_to_the_uninterrupted_result(tmp_path,
                                                                                   capsys):
    argv = ["train", "--arch", ARCH, "--data", DATA, "--train-size", str(TRAIN_SIZE),
            "--epochs", "8", "--channels", "4", "--layers", "1", "--batch-size", "100",
            "--device", "cpu", "--threads", "1", "--seed", "3", "--quiet", "--json"]
    out = tmp_path / "run"
    command = [sys.executable, "-m", "pipelines.cli", *argv, "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + KILL_WAIT_S
    while not (out / CHECKPOINT).exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()  # killed, not finished
    done = read_checkpoint(out / CHECKPOINT, "test", CHECKPOINT_KEYS)["epoch"]
    assert 1 <= done < 8

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True,
                             timeout=KILL_WAIT_S)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert main(argv) == 0
    whole = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] == whole["test_accuracy"]
    assert without_wall(result["history"]) == without_wall(whole["history"])
    log = [json.loads(line) for line in (out / LOG_JSONL).read_text().splitlines()]
    assert without_wall(log) == without_wall(whole["history"])
