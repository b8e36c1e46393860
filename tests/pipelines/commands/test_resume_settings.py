"""``nao search --resume`` after the strategy's defaults changed (an upgrade): the store keeps
the settings the search began with (every option, defaults included), the resume goes on with
one warning naming what changed and the ``--set`` that continues it as it began, and options
that come to the stored settings are the same run. Other options are refused as before."""

from __future__ import annotations

import json

import pytest
from support import run_cli

from pipelines.commands.search import MISSING, setting_changes, warn_on_changed_settings
from pipelines.search.store import Store
from pipelines.strategies import make_strategy

EVOLUTION = ["search", "--strategy", "evolution", "--quiet", "--json"]


def stored_config(out) -> dict:
    store = Store(out / Store.FILENAME)
    try:
        return store.get_meta("config")
    finally:
        store.close()


def began_with(out, **settings) -> None:
    """The store at ``out`` as if its search had begun under other defaults."""
    config = stored_config(out)
    config["settings"].update(settings)
    store = Store(out / Store.FILENAME)
    try:
        store.set_meta("config", config)
    finally:
        store.close()


@pytest.fixture
def begun(capsys, tmp_path):
    """An evolution search of 5 queries stored in ``tmp_path / "run"``."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *EVOLUTION, "--budget", "5", "--out", str(out))
    assert code == 0 and err == ""
    return out


def test_a_search_stores_the_settings_it_runs_with(begun, cora):
    assert stored_config(begun)["settings"] == make_strategy("evolution", cora).settings()


def test_a_resume_after_a_default_changed_goes_on_with_one_warning_saying_how_to_keep_it(
        begun, capsys):
    began_with(begun, population_size=7, sample_size=3)
    code, out, err = run_cli(capsys, *EVOLUTION, "--budget", "8", "--out", str(begun),
                             "--resume")
    assert code == 0 and json.loads(out)["queries"] == 8
    assert err == (f"nao search: warning: --resume: the evolution strategy's settings differ "
                   f"from when {begun} began (population_size 7 -> 20, sample_size 3 -> 5), so "
                   "the rest of the search runs with the new ones; to continue it as it began, "
                   "add --set population_size=7 --set sample_size=3\n")


def test_the_suggested_options_continue_it_as_it_began_without_a_warning(begun, capsys):
    began_with(begun, population_size=7)
    code, out, err = run_cli(capsys, *EVOLUTION, "--budget", "8", "--out", str(begun),
                             "--resume", "--set", "population_size=7")
    assert code == 0 and json.loads(out)["queries"] == 8 and err == ""


def test_options_the_search_did_not_begin_with_are_still_refused(begun, capsys):
    began_with(begun, population_size=7)
    code, out, err = run_cli(capsys, *EVOLUTION, "--budget", "8", "--out", str(begun),
                             "--resume", "--set", "population_size=9")
    assert code == 2 and out == ""
    assert "was made with different options" in err


def test_a_finished_search_read_back_says_nothing_of_settings(begun, capsys):
    began_with(begun, population_size=7)
    code, out, err = run_cli(capsys, *EVOLUTION, "--budget", "5", "--out", str(begun),
                             "--resume")
    assert code == 0 and json.loads(out)["read_back"] and err == ""


def test_a_store_from_before_settings_were_recorded_resumes_by_its_options(begun, capsys):
    config = stored_config(begun)
    del config["settings"]
    store = Store(begun / Store.FILENAME)
    store.set_meta("config", config)
    store.close()
    code, _, err = run_cli(capsys, *EVOLUTION, "--budget", "6", "--out", str(begun),
                           "--resume")
    assert code == 0 and err == ""
    code, _, err = run_cli(capsys, *EVOLUTION, "--budget", "7", "--out", str(begun),
                           "--resume", "--set", "population_size=20")
    assert code == 2 and "was made with different options" in err


def test_nested_settings_are_compared_leaf_by_leaf():
    before = {"top_k": 5, "nao_params": {"epochs": 5, "hidden_size": 64}, "gone": 1}
    now = {"top_k": 5, "nao_params": {"epochs": 10, "hidden_size": 64}, "added": [1, 2]}
    assert setting_changes(before, now) == [("added", MISSING, [1, 2]), ("gone", 1, MISSING),
                                            ("nao_params.epochs", 5, 10)]


def test_an_option_added_or_removed_since_is_no_change_to_warn_of(capsys, tmp_path):
    args = type("Args", (), {"strategy": "nao", "out": str(tmp_path)})()
    warn_on_changed_settings(args, {"top_k": 5, "gone": 1}, {"top_k": 5, "added": 2})
    assert capsys.readouterr().err == ""
    warn_on_changed_settings(args, {"top_k": 5, "gone": 1, "nao_params": {"epochs": 5}},
                             {"top_k": 5, "added": 2, "nao_params": {"epochs": 10}})
    assert capsys.readouterr().err.endswith("(nao_params.epochs 5 -> 10), so the rest of the "
                                            "search runs with the new ones; to continue it as "
                                            "it began, add --set nao_params.epochs=5\n")
