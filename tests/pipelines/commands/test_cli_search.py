"""End-to-end tests of `nao search` and `nao predictor-eval` through the console entry point."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import run_cli

from pipelines.cli import main

NAO_FAST = ["--set", "n_init=10", "--set", "round_size=5", "--set", "top_k=5",
            "--set", "nao_params.epochs=40", "--set", "nao_params.patience=null"]


def test_search_json_has_the_design_keys(capsys):
    code, out, _ = run_cli(capsys, "search", "--strategy", "random", "--budget", "12", "--json",
                                   "--quiet")
    assert code == 0
    result = json.loads(out)
    for key in ("space", "strategy", "seed", "queries", "wall_s", "best", "history",
                "optimum_valid", "optimum_test"):
        assert key in result
    for key in ("arch", "valid", "test", "valid_rank", "test_rank"):
        assert key in result["best"]
    assert set(result["history"][0]) >= {"query", "arch", "valid", "test"}
    assert result["queries"] == len(result["history"]) == 12
    assert result["space"] == "nasbench-graph:cora" and result["strategy"] == "random"


def test_search_summary_names_rank_and_queries(capsys):
    code, out, err = run_cli(capsys, "search", "--strategy", "random", "--budget", "5")
    assert code == 0
    assert "rank" in out and "5 distinct architectures" in out
    assert "random on nasbench-graph:cora" in err  # progress goes to stderr


def test_nao_search_with_preset_and_settings(capsys, monkeypatch):
    """--preset paper sets what --set leaves alone, --set overrides the preset, and the fitted
    estimator gets the merged nao_params."""
    import pipelines.commands.search as search_cmd
    from pipelines.strategies.nao_strategy import DEFAULT_NAO_PARAMS, PRESETS

    made = []
    real_make = search_cmd.make_strategy

    def keep(*args, **kwargs):
        made.append(real_make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(search_cmd, "make_strategy", keep)
    code, out, _ = run_cli(capsys, "search", "--budget", "15", "--json", "--quiet", "--preset",
                           "paper", *NAO_FAST)
    assert code == 0
    assert json.loads(out)["queries"] == 15
    (strategy,) = made
    paper = PRESETS["paper"]
    assert paper["n_init"] != 10 and paper["top_k"] != 5  # so the --set values below show
    assert (strategy.n_init, strategy.round_size, strategy.top_k) == (10, 5, 5)  # --set wins
    assert strategy.candidate_factor == paper["candidate_factor"]  # the preset's, not default
    model = strategy.model  # NAO fitted once the 10 initial architectures were in
    assert model is not None and model.epochs == 40 and model.patience is None  # --set
    for key in ("hidden_size", "target_transform", "warm_patience"):
        assert paper["nao_params"][key] != DEFAULT_NAO_PARAMS[key]
        assert getattr(model, key) == paper["nao_params"][key]  # the preset's nao_params


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--space", "bogus"], "unknown search space"),
        (["search", "--budget", "0"], "at least 1"),
        (["search", "--budget", "ten"], "whole number"),
        (["search", "--strategy", "magic"], "invalid choice"),
        (["search", "--resume"], "--resume needs --out"),
        (["search", "--set", "top_q=3"], "has no option top_q"),
        (["search", "--set", "novalue"], "KEY=VALUE"),
        (["search", "--strategy", "random", "--preset", "paper"], "--preset applies"),
        (["search", "--space", "nasbench-graph:mnist"], "unknown NAS-Bench-Graph dataset"),
        (["predictor-eval", "--train-size", "-3"], "at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        code = main(args)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_predictor_eval_json_has_the_design_keys(capsys):
    code, out, _ = run_cli(capsys, "predictor-eval", "--train-size", "30", "--test-size", "60",
                                   "--baselines", "--json", "--quiet", "--set", "epochs=60")
    assert code == 0
    result = json.loads(out)
    for key in ("pairwise_accuracy", "kendall_tau", "spearman", "reconstruction_accuracy"):
        assert key in result["nao"]
    assert set(result["baselines"]) == {"random_forest", "gaussian_process", "knn",
                                         "gradient_boosting"}
    for metrics in result["baselines"].values():
        assert 0.0 <= metrics["pairwise_accuracy"] <= 1.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())",
            *args]


def _stored(path: Path) -> int:
    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow  # processes and a SIGKILL; the resume itself is pinned fast in
# tests/pipelines/search/test_search_loop.py (test_resume_answers_from_the_store_...)
def test_search_killed_with_sigkill_resumes_to_the_same_history(tmp_path, capsys):
    # pre-training on but small: the default (pinned in test_nao_levers) took most of each run
    args = ["search", "--budget", "30", "--seed", "7", "--json", "--quiet", *NAO_FAST,
            "--set", "pretrain_archs=50", "--set", "pretrain_epochs=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # the uninterrupted run in this process (torch and the space already loaded); the killed
    # and the resumed one in their own
    code, through, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 0, err
    expected = json.loads(through)["history"]

    run_dir = tmp_path / "b"
    proc = subprocess.Popen(_cli(*args, "--out", str(run_dir)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while _stored(run_dir / "store.sqlite") < 12 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _stored(run_dir / "store.sqlite")
    assert 12 <= killed_at < 30, "the run should be killed half way"

    resumed = subprocess.run(_cli(*args, "--out", str(run_dir), "--resume"),
                             capture_output=True, text=True, env=env, check=True)
    assert json.loads(resumed.stdout)["history"] == expected
    assert _stored(run_dir / "store.sqlite") == 30  # nothing evaluated twice, nothing lost


def test_the_search_bar_shows_nao_training_between_queries(capsys):
    code, _out, err = run_cli(capsys, "search", "--budget", "15", *NAO_FAST,
                              "--set", "pretrain_archs=20", "--set", "pretrain_epochs=2")
    assert code == 0, err
    assert "pre-training on 20 unlabelled archs, epoch 1/2" in err
    assert "fitting on 10 archs, epoch 1/40" in err
    assert "15/15" in err and "best_valid=" in err
