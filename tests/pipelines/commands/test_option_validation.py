"""Every strategy option and every predictor-eval option is checked for type and range when a
command starts: one line on stderr, exit 2, before any architecture is evaluated or any
network is fitted."""

from __future__ import annotations

import pytest
from support import assert_one_line_error, run_cli

from nao.errors import ConfigError
from nao.estimator import NAO
from pipelines.cli import main
from pipelines.search import predictor_eval
from pipelines.search.evaluators import TableEvaluator
from pipelines.strategies import STRATEGIES, make_strategy, option_names


@pytest.fixture
def no_work(monkeypatch):
    """Any evaluation or NAO fit fails the test: errors must come before either."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(TableEvaluator, "evaluate", forbidden)
    monkeypatch.setattr(NAO, "fit", forbidden)
    monkeypatch.setattr(predictor_eval, "sample_distinct", forbidden)


def one_line_error(argv: list[str], capsys) -> str:
    """The error line of a command that must fail with exit 2 and exactly one stderr line."""
    code, out, err = run_cli(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, command=argv[0])
    return err


# (strategy, --set, text the message must contain)
BAD_SEARCH_OPTIONS = [
    ("nao", "top_k=abc", "top_k must be a whole number >= 1, got 'abc'"),
    ("nao", "top_k=null", "top_k must be a whole number >= 1, got null"),
    ("nao", "top_k=1.5", "top_k must be a whole number"),
    ("nao", "top_k=3.0", "top_k must be a whole number"),
    ("nao", "top_k=true", "top_k must be a whole number"),
    ("nao", "top_k=0", "top_k must be a whole number >= 1"),
    ("nao", "transfer=1", "transfer must be space names"),  # found by the options fuzz test
    ("nao", "transfer=0", "transfer must be space names"),  # not a silent "no transfer"
    ("nao", "n_init=abc", "n_init must be a whole number >= 2"),
    ("nao", "n_init=1", "n_init must be a whole number >= 2"),
    ("nao", "round_size=0", "round_size"),
    ("nao", "warm_start=maybe", "warm_start must be true or false, got 'maybe'"),
    ("nao", "warm_start=1", "warm_start must be true or false"),
    ("nao", "candidate_factor=1e308", "candidate_factor must be a finite number >= 1 and <= 100"),
    ("nao", "candidate_factor=NaN", "candidate_factor"),
    ("nao", "candidate_factor=0.5", "candidate_factor"),
    ("nao", "random_candidates=-1", "random_candidates"),
    ("nao", "fit_on=newest", "fit_on must be one of all, latest"),
    ("nao", "n_models=0", "n_models"),
    ("nao", "pseudo_labels=-2", "pseudo_labels"),
    ("nao", "pseudo_labels=1000000000", "pseudo_labels must be a whole number >= 0 and <= 10000, "
     "got 1000000000; they are drawn from at most 10,000 random samples"),
    ("nao", "pretrain_archs=10001", "pretrain_archs must be a whole number >= 0 and <= 10000"),
    ("nao", "random_candidates=10001", "random_candidates must be a whole number >= 0 and <= "
     "10000"),
    ("nao", "mutation_candidates=1000000000", "mutation_candidates must be a whole number >= 0 "
     "and <= 10000, got 1000000000; every round draws and ranks them all"),
    ("nao", "nao_params.hidden_size=4096", "nao_params.hidden_size must be a whole number >= 1 "
     "and <= 1024, got 4096; the paper's layers are 48 to 200 units wide"),
    ("nao", "nao_params.embedding_size=1025", "nao_params.embedding_size must be a whole number "
     ">= 1 and <= 1024"),
    ("nao", "nao_params=5", "nao_params must be a group of options"),
    ("nao", "nao_params.epochs=abc", "nao_params.epochs must be a whole number >= 1, got 'abc'"),
    ("nao", "nao_params.epochs=-1", "nao_params.epochs must be a whole number >= 1, got -1"),
    ("nao", "nao_params.epoch=5", "nao_params has no option epoch;"),
    ("nao", "nao_params.random_state=3", "nao_params has no option random_state"),
    ("nao", "nao_params.warm_start=true", "nao_params has no option warm_start"),
    ("nao", "nao_params.lr=0", "nao_params.lr"),
    ("nao", "nao_params.dropout=1", "nao_params.dropout"),
    ("nao", "nao_params.trade_off=2", "nao_params.trade_off"),
    ("nao", "nao_params.hidden_size=100000", "nao_params.hidden_size"),
    ("nao", "nao_params.num_threads=1000000", "nao_params.num_threads"),
    ("nao", "nao_params.patience=0", "nao_params.patience must be a whole number >= 1 or null"),
    ("nao", "nao_params.warm_patience=abc", "nao_params.warm_patience"),
    ("nao", "nao_params.max_step_size=1e9", "nao_params.max_step_size"),
    ("nao", "nao_params.step_size=-1", "nao_params.step_size"),
    ("nao", "nao_params.target_transform=log", "nao_params.target_transform must be one of"),
    ("nao", "nao_params.device=tpu", "nao_params.device must be one of auto, cpu, cuda"),
    ("nao", "nao_params.mlp_layers=-1", "nao_params.mlp_layers"),
    ("nao-paper", "top_k=abc", "nao-paper strategy: top_k must be a whole number"),
    ("nao-paper", "nao_params.epochs=0", "nao-paper strategy: nao_params.epochs"),
    ("rl", "batch_size=0", "rl strategy: batch_size must be a whole number >= 1"),
    ("rl", "hidden_size=abc", "hidden_size"),
    ("rl", "hidden_size=1000000000", "hidden_size must be a whole number >= 1 and <= 1024"),
    ("rl", "lr=-1", "lr must be a finite number > 0"),
    ("rl", "lr=Infinity", "lr must be a finite number"),
    ("rl", "baseline_decay=1", "baseline_decay must be a finite number >= 0 and < 1"),
    ("rl", "entropy_weight=-1", "entropy_weight"),
    ("rl", "entropy_weight=1e300", "entropy_weight"),
    ("rl", "temperature=0", "temperature"),
    ("rl", "tanh_constant=0", "tanh_constant"),
    ("rl", "reward_scaling=rank", "reward_scaling must be one of std, none, got 'rank'"),
    ("rl", "max_resample_rounds=1.5", "max_resample_rounds"),
    ("evolution", "population_size=0", "evolution strategy: population_size"),
    ("evolution", "sample_size=50", "sample_size must be a whole number >= 1 and <= 20, got 50"),
    ("evolution", "batch_size=true", "batch_size must be a whole number"),
    ("evolution", "max_mutation_tries=null", "max_mutation_tries"),
    ("random", "batch_size=0", "random strategy: batch_size must be a whole number >= 1"),
    ("random", 'batch_size="10"', "batch_size must be a whole number >= 1, got '10'"),
]


@pytest.mark.parametrize("strategy, setting, message", BAD_SEARCH_OPTIONS)
def test_a_bad_search_option_is_one_line_before_any_evaluation(strategy, setting, message,
                                                               no_work, capsys):
    err = one_line_error(["search", "--strategy", strategy, "--budget", "40", "--quiet",
                          "--set", setting], capsys)
    assert message in err


def test_a_bad_option_on_top_of_a_preset_is_caught_too(no_work, capsys):
    err = one_line_error(["search", "--preset", "paper", "--set", "nao_params.epochs=-1",
                          "--quiet"], capsys)
    assert "nao_params.epochs must be a whole number >= 1, got -1" in err


def test_every_option_of_every_strategy_is_checked(cora):
    # each option of each strategy refuses a string; one left unchecked would let this pass
    for name, entry in STRATEGIES.items():
        options = option_names(entry.cls)
        assert options, name
        for option in sorted(options):
            with pytest.raises(ConfigError, match=f"{option} must be"):
                make_strategy(name, cora, **{option: "not-a-value"})


@pytest.mark.parametrize("name, options, stored", [
    ("nao", {"top_k": 1, "n_init": 2, "candidate_factor": 1}, {"candidate_factor": 1.0}),
    ("nao", {"nao_params": {"patience": None, "epochs": 1}}, {}),
    ("nao", {"nao_params": None}, {}),
    ("nao", {"pseudo_labels": 10_000, "pretrain_archs": 10_000, "random_candidates": 10_000,
             "mutation_candidates": 10_000, "nao_params": {"hidden_size": 1024}},
     {"pseudo_labels": 10_000}),
    ("rl", {"tanh_constant": None, "lr": 1, "baseline_decay": 0}, {"tanh_constant": None}),
    ("evolution", {"population_size": 3, "sample_size": 3}, {"sample_size": 3}),
    ("random", {"batch_size": 1}, {"ask_size": 1}),
])
def test_values_at_the_edge_of_each_range_are_accepted(cora, name, options, stored):
    strategy = make_strategy(name, cora, random_state=0, **options)
    for key, value in stored.items():
        assert getattr(strategy, key) == value and type(getattr(strategy, key)) is type(value)


# ----- predictor-eval ------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--set", "epochs=-1"], "epochs must be a whole number >= 1, got -1"),
    (["--set", "epochs=abc"], "epochs must be a whole number"),
    (["--set", "bogus=1"], "the NAO estimator has no option bogus"),
    (["--set", "random_state=1"], "has no option random_state"),
    (["--set", "target_transform=log"], "target_transform must be one of minmax, rank"),
    (["--set", "lr=1e308"], "lr must be a finite number > 0 and <= 1"),
    (["--train-size", "30000"], "nasbench-graph:cora holds 26,206"),
    (["--train-size", "20000", "--test-size", "6207"], "holds 26,206"),
    (["--train-size", "1"], "--train-size must be a whole number >= 2, got 1"),
    (["--test-size", "1"], "--test-size must be a whole number >= 2, got 1"),
    (["--space", "enas-micro"], "enas-micro has no table"),
    (["--n-models", "101"], "--n-models must be a whole number >= 1 and <= 100, got 101"),
])
def test_a_bad_predictor_eval_option_is_one_line_before_any_work(args, message, no_work,
                                                                  capsys):
    err = one_line_error(["predictor-eval", "--quiet", *args], capsys)
    assert message in err


def test_train_and_test_may_fill_the_whole_table(cora):
    predictor_eval.check_sizes(cora, 20000, 6206)  # 26,206: every architecture once


@pytest.mark.parametrize("flag", ["--space", "--train-size", "--test-size"])
def test_predictor_eval_help_explains_each_flag(flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predictor-eval", "--help"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(flag))
    described = " ".join(lines[at:at + 3])
    assert "default" in described and len(described.split()) > 6
