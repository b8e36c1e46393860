"""Valid input that would not do what it looks like it does, or would take far longer than a
normal run, is run with one warning line on stderr (``nao COMMAND: warning: ...``) saying what
it costs and what to change; ``--quiet`` silences progress only, not these."""

from __future__ import annotations

import inspect

import pytest
from support import assert_one_line_error, run_cli

import nao.estimator as estimator
from pipelines.strategies import make_strategy
from pipelines.strategies.nao_strategy import MAX_DRAWN
from search_spaces.base import SearchSpace

QUIET_SEARCH = ["search", "--quiet", "--json"]
# NAO runs one round, as small as it gets: 2 random, then one fit of 2 epochs
ONE_SMALL_ROUND = ["--budget", "3", "--set", "n_init=2", "--set", "pretrain_archs=0",
                   "--set", "mutation_candidates=0", "--set", "nao_params.epochs=2"]


def warnings_of(err: str, command: str = "search") -> list[str]:
    lines = err.splitlines()
    assert all(line.startswith(f"nao {command}: warning: ") for line in lines), err
    return [line.removeprefix(f"nao {command}: warning: ") for line in lines]


@pytest.mark.parametrize("budget, n_init", [(100, 1000), (30, 30), (5, 30)])
def test_a_budget_not_above_n_init_warns_that_nao_never_runs(capsys, budget, n_init):
    code, out, err = run_cli(capsys, *QUIET_SEARCH, "--budget", str(budget),
                             "--set", f"n_init={n_init}")
    assert code == 0 and '"queries": ' + str(budget) in out
    warning, = warnings_of(err)
    assert warning.startswith(f"--budget {budget} is not more than n_init={n_init}, so NAO "
                              "never runs")
    assert f"raise --budget above {n_init} or lower n_init" in warning


def test_a_budget_one_above_n_init_runs_nao_and_says_nothing(cora):
    assert make_strategy("nao", cora, n_init=10).warnings(11) == []
    assert make_strategy("nao", cora, n_init=10).warnings(10) != []
    assert make_strategy("nao-paper", cora).warnings(30) != []  # the preset's n_init too


def test_other_strategies_have_no_n_init_to_warn_about(capsys):
    code, _, err = run_cli(capsys, *QUIET_SEARCH, "--strategy", "random", "--budget", "5")
    assert code == 0 and err == ""


def test_more_nao_threads_than_cpus_run_with_one_warning_saying_how_many_are_used(
        capsys, monkeypatch):
    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    code, _, err = run_cli(capsys, *QUIET_SEARCH, *ONE_SMALL_ROUND,
                           "--set", "nao_params.num_threads=256")
    assert code == 0
    warning, = warnings_of(err)
    assert warning.startswith("nao_params.num_threads=256 is more than the 2 CPU(s) this "
                              "process may use, so NAO trains with 2")


def test_threads_up_to_the_cpus_and_the_defaults_say_nothing(capsys, monkeypatch):
    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    code, _, err = run_cli(capsys, *QUIET_SEARCH, *ONE_SMALL_ROUND,
                           "--set", "nao_params.num_threads=2")
    assert code == 0 and err == ""


@pytest.mark.parametrize("width, warned", [(256, False), (257, True), (1024, True)])
def test_layers_wider_than_256_warn_what_they_cost(cora, width, warned):
    strategy = make_strategy("nao", cora, nao_params={"hidden_size": width})
    texts = strategy.warnings(100)
    assert bool(texts) == warned
    if warned:
        assert texts[0].startswith(f"nao_params.hidden_size={width}: layers wider than 256 make "
                                   "NAO's training slow on a CPU")


@pytest.mark.parametrize("pseudo_labels, warned", [(300, False), (500, False), (501, True),
                                                   (10_000, True)])
def test_pseudo_labels_beyond_five_times_the_budget_warn_how_much_more_training(
        cora, pseudo_labels, warned):
    texts = make_strategy("nao", cora, pseudo_labels=pseudo_labels).warnings(100)
    assert bool(texts) == warned
    if warned:
        times = round(2 + pseudo_labels / 100)
        assert texts[0].startswith(f"pseudo_labels={pseudo_labels}: every round fits NAO a "
                                   "second time")
        assert f"about {times} times the training" in texts[0]


def test_the_slow_settings_warning_reaches_the_command_line(capsys):
    code, _, err = run_cli(capsys, *QUIET_SEARCH, *ONE_SMALL_ROUND,
                           "--set", "nao_params.hidden_size=300")
    assert code == 0
    warning, = warnings_of(err)
    assert warning.startswith("nao_params.hidden_size=300: layers wider than 256")


def test_predictor_eval_warns_of_more_threads_than_cpus(capsys, monkeypatch):
    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    code, _, err = run_cli(capsys, "predictor-eval", "--quiet", "--json", "--train-size", "10",
                           "--test-size", "10", "--set", "epochs=1", "--set", "num_threads=3")
    assert code == 0
    warning, = warnings_of(err, "predictor-eval")
    assert warning.startswith("num_threads=3 is more than the 2 CPU(s)")


def test_the_cap_on_drawn_architectures_is_what_a_draw_can_give():
    # pseudo_labels, pretrain_archs and random_candidates are capped at what one draw of
    # unseen architectures takes samples for: a higher cap would promise more than it gives
    tries = inspect.signature(SearchSpace.sample_distinct).parameters["max_tries"].default
    assert MAX_DRAWN == tries


def test_a_refusal_after_a_warning_worthy_option_is_still_one_line(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(capsys, *QUIET_SEARCH, "--budget", "5", "--out",
                           str(tmp_path / "afile"))
    assert_one_line_error(code, err, "is a file, not a directory", command="search")


def test_a_predictor_eval_refusal_after_a_warning_worthy_option_is_still_one_line(
        capsys, monkeypatch):
    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    code, _, err = run_cli(capsys, "predictor-eval", "--quiet", "--train-size", "30000",
                           "--set", "num_threads=3")
    assert_one_line_error(code, err, "holds 26,206", command="predictor-eval")
