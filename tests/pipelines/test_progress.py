"""Progress on a stderr that is not a terminal (a log file, a pipe; capsys here) is plain
lines, one per epoch (or every few steps), with no carriage returns or cursor codes; on a
terminal it is a tqdm bar; ``--quiet`` writes nothing."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
from support import run_cli

from pipelines.progress import PlainProgress, progress
from search_spaces import get_space

CURSOR = re.compile(r"\r|\x1b\[")
TINY = ["--data", "standin:1x8x8", "--channels", "4", "--layers", "1", "--batch-size", "50",
        "--device", "cpu", "--threads", "1", "--json"]
MICRO_ARCH = get_space("enas-micro").to_string(
    get_space("enas-micro").sample(np.random.default_rng(0)))


def assert_plain(err: str) -> list[str]:
    assert not CURSOR.search(err), repr(err[:300])
    return err.splitlines()


@pytest.mark.parametrize("controller", ["random", "darts"])
def test_ws_progress_off_a_terminal_is_one_plain_line_per_epoch(capsys, controller):
    extra = ["--pool-size", "4"] if controller == "random" else ["--train-size", "100"]
    code, _, err = run_cli(capsys, "ws", "--controller", controller, "--epochs", "3", *extra,
                           *TINY)
    assert code == 0, err
    lines = assert_plain(err)
    assert len(lines) == 3, lines
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"ws {controller} on standin:1x8x8: epoch {epoch}/3, loss="), line
        assert line.endswith(" s]")


def test_ws_quiet_writes_nothing(capsys):
    code, _, err = run_cli(capsys, "ws", "--controller", "random", "--pool-size", "4",
                           "--epochs", "2", *TINY, "--quiet")
    assert code == 0 and err == ""


def test_train_progress_off_a_terminal_is_one_plain_line_per_epoch(capsys):
    code, _, err = run_cli(capsys, "train", "--arch", MICRO_ARCH, "--epochs", "2", *TINY)
    assert code == 0, err
    lines = assert_plain(err)
    heads = [line.split(",")[0] for line in lines]
    steps = int(heads[-1].rpartition("/")[2]) // 2  # minibatches an epoch
    assert heads == [f"train: batch {steps}/{2 * steps}", f"train: batch {2 * steps}/{2 * steps}"]


def test_search_progress_off_a_terminal_is_about_ten_plain_lines(capsys):
    code, _, err = run_cli(capsys, "search", "--strategy", "random", "--budget", "30")
    assert code == 0, err
    lines = assert_plain(err)
    assert [line.split(",")[0] for line in lines] == [
        f"random on nasbench-graph:cora: arch {n}/30" for n in range(3, 31, 3)]
    assert all("best_valid=" in line for line in lines)


def test_benchmark_progress_off_a_terminal_is_one_plain_line_per_search(capsys, tmp_path):
    code, _, err = run_cli(capsys, "benchmark", "--strategies", "random,evolution", "--budget",
                           "5", "--seeds", "2", "--jobs", "1", "--out", str(tmp_path))
    assert code == 0, err
    lines = [line for line in assert_plain(err) if line.startswith("benchmark on ")]
    assert [line.split(",")[0] for line in lines] == [
        f"benchmark on nasbench-graph:cora: search {n}/4" for n in range(1, 5)]
    assert all(re.search(r", last=(random|evolution)/[01] \[", line) for line in lines)


def test_plain_progress_writes_the_last_step_and_each_every_th(capsys):
    bar = PlainProgress(total=7, unit="seed", desc="d", every=3)
    for _ in range(7):
        bar.update(1)
    bar.set_postfix(a=1, b="x")
    bar.update(0)  # no step: no line
    assert [line.split(" [")[0] for line in capsys.readouterr().err.splitlines()] == [
        "d: seed 3/7", "d: seed 6/7", "d: seed 7/7"]


def test_plain_progress_resumed_counts_from_its_initial_step(capsys):
    bar = PlainProgress(total=4, initial=2, unit="epoch", desc="ws")
    bar.set_postfix(loss="0.5", refresh=False)
    bar.update(1)
    assert capsys.readouterr().err.startswith("ws: epoch 3/4, loss=0.5 [")


def test_a_bar_within_a_step_and_a_quiet_one_write_nothing_off_a_terminal(capsys):
    for bar in (progress(True, total=3, leave=False), progress(False, total=3)):
        with bar:
            bar.update(3)
    assert capsys.readouterr().err == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_is_a_tqdm_bar(monkeypatch):
    from tqdm import tqdm

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress(True, total=2, unit="epoch", desc="ws")
    bar.update(2)
    bar.close()
    assert isinstance(bar, tqdm)
    assert "\r" in sys.stderr.getvalue()
