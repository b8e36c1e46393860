"""`nao benchmark --out` and `nao search --out` share a directory with nobody: a benchmark holds
the lock a search takes for its whole run, a second writer is one line naming the directory,
and neither command writes into the other's directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import assert_one_line_error, run_cli

import pipelines.commands.benchmark as benchmark_command
from nao.errors import ConfigError
from pipelines.search.benchmark import JSON_NAME, RUNS_DIR
from pipelines.search.store import Store
from pipelines.training.run_dir import RunDirLock

BENCHMARK = ["benchmark", "--strategies", "random", "--budget", "5", "--seeds", "1", "--jobs",
             "1", "--quiet"]
SEARCH = ["search", "--strategy", "random", "--budget", "5", "--quiet"]


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")
            if p.is_file() and p.name != ".lock"}


def test_a_benchmark_into_an_out_another_process_holds_is_one_line_naming_it(tmp_path, capsys):
    with RunDirLock(tmp_path, "search"):  # what a running search or benchmark holds
        code, out, err = run_cli(capsys, *BENCHMARK, "--out", str(tmp_path))
    assert out == ""
    assert_one_line_error(code, err, f"is writing to {tmp_path}", "choose another --out",
                          command="benchmark")
    assert _files(tmp_path) == {}  # no search ran, nothing written


def test_a_benchmark_holds_its_out_for_its_whole_run_and_frees_it_after(tmp_path, capsys,
                                                                         monkeypatch):
    real = benchmark_command.run_benchmark
    held = []

    def run_benchmark_while_probing_the_lock(*args, **kwargs):
        with pytest.raises(ConfigError, match=f"is writing to {tmp_path}"):
            RunDirLock(tmp_path, "second benchmark")
        held.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(benchmark_command, "run_benchmark", run_benchmark_while_probing_the_lock)
    code, _, err = run_cli(capsys, *BENCHMARK, "--out", str(tmp_path))
    assert code == 0, err
    assert held == [True] and (tmp_path / JSON_NAME).is_file()
    RunDirLock(tmp_path).release()  # free once it finished


def test_a_benchmark_refuses_an_out_holding_a_search_store_and_leaves_it(tmp_path, capsys):
    assert run_cli(capsys, *SEARCH, "--out", str(tmp_path))[0] == 0
    before = _files(tmp_path)
    code, _, err = run_cli(capsys, *BENCHMARK, "--out", str(tmp_path))
    assert_one_line_error(code, err, str(tmp_path / Store.FILENAME), "holds a search store",
                          "choose another --out", command="benchmark")
    assert _files(tmp_path) == before
    assert not (tmp_path / RUNS_DIR).exists()


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "interrupted"])
def test_a_search_refuses_a_benchmarks_out_and_makes_no_store_there(tmp_path, capsys, finished):
    assert run_cli(capsys, *BENCHMARK, "--out", str(tmp_path))[0] == 0
    if not finished:  # killed before its report: only the finished searches in runs/
        for name in ("benchmark.md", JSON_NAME, "benchmark.png"):
            (tmp_path / name).unlink()
    before = _files(tmp_path)
    code, _, err = run_cli(capsys, *SEARCH, "--out", str(tmp_path))
    assert_one_line_error(code, err, f"--out {tmp_path} holds a benchmark",
                          "choose another --out", command="search")
    assert _files(tmp_path) == before
    assert not (tmp_path / Store.FILENAME).exists()
