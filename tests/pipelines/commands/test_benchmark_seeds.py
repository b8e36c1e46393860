"""`nao benchmark --seeds` is bounded: more than MAX_SEEDS is one line saying the bound and why,
before any table is loaded, any directory made or any search run."""

from __future__ import annotations

import pytest
from support import assert_one_line_error, run_cli

import pipelines.commands.benchmark as benchmark_command
import pipelines.search.benchmark as benchmark
from nao.errors import ConfigError
from pipelines.commands.parsers import benchmark as benchmark_parser


@pytest.fixture
def no_work(monkeypatch):
    """Loading a space (the first work a benchmark does) fails the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the benchmark started work although --seeds is out of bounds")

    monkeypatch.setattr(benchmark_command, "check_setup", refuse)
    monkeypatch.setattr(benchmark_command, "run_benchmark", refuse)
    monkeypatch.setattr(benchmark, "get_space", refuse)


@pytest.mark.parametrize("seeds", [str(benchmark.MAX_SEEDS + 1), "1000000"])
def test_more_seeds_than_the_bound_is_one_line_before_any_work(seeds, tmp_path, capsys, no_work):
    out = tmp_path / "bench"
    code, stdout, err = run_cli(capsys, "benchmark", "--seeds", seeds, "--quiet", "--out",
                                str(out))
    assert stdout == ""
    assert_one_line_error(code, err, f"--seeds {seeds}", f"1 to {benchmark.MAX_SEEDS}",
                          "runs/", command="benchmark")
    assert not out.exists()


def test_the_bound_is_a_thousand_and_itself_allowed():
    assert benchmark.MAX_SEEDS == 1000
    benchmark.check_seeds(benchmark.MAX_SEEDS)
    benchmark.check_seeds(1)
    with pytest.raises(ConfigError, match="choose 1 to 1000"):
        benchmark.check_seeds(benchmark.MAX_SEEDS + 1)
    with pytest.raises(ConfigError, match="choose 1 to 1000"):
        benchmark.check_seeds(0)


def test_the_python_entry_point_refuses_too_many_seeds_before_loading_the_space(no_work):
    with pytest.raises(ConfigError, match=f"--seeds {benchmark.MAX_SEEDS + 1}"):
        benchmark.run_benchmark("nasbench-graph:cora", ["random"], 5, benchmark.MAX_SEEDS + 1)


def test_the_help_states_the_bound_the_benchmark_checks(capsys):
    assert benchmark_parser.MAX_SEEDS == benchmark.MAX_SEEDS
    code, out, _ = run_cli(capsys, "benchmark", "--help")
    assert code == 0 and f"at most {benchmark.MAX_SEEDS}" in " ".join(out.split())
