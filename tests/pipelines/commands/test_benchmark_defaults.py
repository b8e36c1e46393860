"""`nao benchmark`'s default strategies: tpe, the library bar, whenever optuna is installed."""

from __future__ import annotations

import importlib.util

from pipelines.commands import benchmark


def test_the_default_includes_tpe_when_optuna_is_installed(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert "tpe" in benchmark.default_strategies(quiet=True).split(",")


def test_without_optuna_tpe_is_left_out_with_a_note_saying_how_to_install_it(monkeypatch,
                                                                             capsys):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    names = benchmark.default_strategies(quiet=False).split(",")
    assert "tpe" not in names and {"nao", "rl", "evolution", "random"} <= set(names)
    err = capsys.readouterr().err
    assert "pip install -e '.[optuna]'" in err and len(err.strip().splitlines()) == 1
