"""``nao search --resume`` on a finished search reads its result back from the store: the
summary says so and how long the search ran, not the milliseconds of reading it."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest
from support import run_cli

import pipelines.commands.search as search_command
from pipelines.search.store import Store

RANDOM = ["search", "--strategy", "random", "--budget", "5", "--quiet"]


def searched_s(out) -> float | None:
    store = Store(out / Store.FILENAME)
    try:
        return store.get_meta(search_command.SEARCHED_S)
    finally:
        store.close()


def test_reading_a_finished_search_back_says_so_and_how_long_it_ran(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run_cli(capsys, *RANDOM, "--json", "--out", str(out))
    assert code == 0
    ran = searched_s(out)
    assert ran == pytest.approx(json.loads(text)["wall_s"], abs=0.01) and ran > 0
    code, text, _ = run_cli(capsys, *RANDOM, "--out", str(out), "--resume")
    assert code == 0
    queries = text.splitlines()[1]
    assert queries == (f"queries   5 distinct architectures, read back from the store (the "
                       f"search had finished in {ran:.1f} s; nothing ran now)")
    code, text, _ = run_cli(capsys, *RANDOM, "--json", "--out", str(out), "--resume")
    result = json.loads(text)
    assert result["read_back"] is True
    assert result["searched_s"] == result["wall_s"] == round(ran, 3)


def test_a_search_that_ran_says_in_how_long_and_is_not_read_back(capsys, tmp_path):
    code, text, _ = run_cli(capsys, *RANDOM, "--json", "--out", str(tmp_path / "run"))
    assert code == 0 and "read_back" not in json.loads(text)
    code, text, _ = run_cli(capsys, *RANDOM, "--out", str(tmp_path / "other"))
    assert text.splitlines()[1].startswith("queries   5 distinct architectures in ")


def test_a_store_without_the_time_is_read_back_without_one(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, *RANDOM, "--out", str(out))[0] == 0
    conn = sqlite3.connect(out / Store.FILENAME)  # as a store made before the time was kept
    conn.execute("DELETE FROM meta WHERE name = ?", (search_command.SEARCHED_S,))
    conn.commit()
    conn.close()
    code, text, _ = run_cli(capsys, *RANDOM, "--out", str(out), "--resume")
    assert code == 0
    assert text.splitlines()[1] == ("queries   5 distinct architectures, read back from the "
                                    "store (the search had finished; nothing ran now)")
    code, text, _ = run_cli(capsys, *RANDOM, "--json", "--out", str(out), "--resume")
    assert json.loads(text)["searched_s"] is None


def test_the_time_of_an_interrupted_run_is_added_to_the_one_that_finishes(capsys, tmp_path,
                                                                        monkeypatch):
    out = tmp_path / "run"
    real = search_command.search_with_progress
    clock = iter([100.0, 102.5])  # the interrupted run: 2.5 s

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("interrupted")

    monkeypatch.setattr(search_command, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(search_command, "search_with_progress", interrupted)
    assert run_cli(capsys, *RANDOM, "--out", str(out))[0] == 130
    assert searched_s(out) == pytest.approx(2.5)
    monkeypatch.undo()
    assert run_cli(capsys, *RANDOM, "--out", str(out), "--resume")[0] == 0
    assert searched_s(out) > 2.5
    assert real is search_command.search_with_progress
