"""`nao search` on a space whose children train from scratch (nas-rl), through the console
entry point: the training options, a resume that trains only what is missing, and the one-line
refusals (training options on a table, nas-rl under nao ws, a cluster with --workers)."""

from __future__ import annotations

import json

import pytest
from support import assert_one_line_error, run_cli

from pipelines.search.store import Store

TINY = ["search", "--space", "nas-rl:layers=2", "--data", "standin:1x8x8", "--train-size", "64",
        "--epochs", "1", "--batch-size", "32", "--strategy", "random", "--seed", "3", "--quiet"]


def test_a_nas_rl_search_trains_children_and_a_resume_trains_only_the_missing_ones(capsys,
                                                                                   tmp_path):
    out = tmp_path / "run"
    code, text, _ = run_cli(capsys, *TINY, "--budget", "3", "--json", "--out", str(out))
    assert code == 0
    first = json.loads(text)
    assert first["queries"] == 3 and first["best"]["test"] is not None
    assert first["children"]["training"]["epochs"] == 1
    assert first["children"]["data"]["name"] == "standin:1x8x8"
    store = Store(out / Store.FILENAME)
    before = store.evaluations()
    store.close()
    code, text, _ = run_cli(capsys, *TINY, "--budget", "4", "--json", "--out", str(out), "--resume")
    assert code == 0
    again = json.loads(text)
    assert again["history"][:3] == first["history"]  # answered from the store
    store = Store(out / Store.FILENAME)
    after = store.evaluations()
    store.close()
    assert len(after) == 4 and all(after[k] == s for k, s in before.items())


def test_a_resume_with_other_child_training_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, *TINY, "--budget", "1", "--out", str(out))[0] == 0
    other = [*TINY, "--budget", "2", "--out", str(out), "--resume"]
    other[other.index("--epochs") + 1] = "2"
    code, _, err = run_cli(capsys, *other)
    assert_one_line_error(code, err, "different children")


@pytest.mark.parametrize(("args", "fragment"), [
    (["search", "--space", "nasbench-graph:cora", "--data", "digits"], "--data applies to"),
    (["search", "--space", "nasbench-graph:cora", "--epochs", "3"], "--epochs applies to"),
    (["search", "--space", "nasbench-graph:cora", "--workers", "2"], "--workers applies to"),
    ([*TINY, "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "drop --workers"),
    (["ws", "--space", "nas-rl:layers=2", "--epochs", "1"], "nao search"),
])
def test_options_that_do_not_apply_are_one_line_before_any_work(capsys, tmp_path, args,
                                                                fragment):
    code, _, err = run_cli(capsys, *args, "--quiet")
    assert_one_line_error(code, err, fragment)
