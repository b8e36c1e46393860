"""The one table of ``nao ws --controller`` (pipelines/oneshot/methods.py): it matches the code
that runs each method, spaces declare what the methods need, refusals come from it before any
data loads, and the help is read off it."""

from __future__ import annotations

import pytest

from nao.errors import ConfigError
from pipelines.cli import build_parser, main
from pipelines.oneshot import methods
from pipelines.oneshot.gradient_estimators import ESTIMATORS
from pipelines.oneshot.weight_sharing import CONTROLLER_TABLE
from search_spaces import get_space


def test_the_table_names_exactly_the_methods_the_code_runs():
    assert methods.names(methods.POOL) == tuple(CONTROLLER_TABLE)
    assert methods.names(methods.RELAXED) == tuple(ESTIMATORS)
    for name, cls in ESTIMATORS.items():  # a method that trains through the mix needs one
        assert (methods.MIXED_PATH in methods.METHODS[name].needs) == cls.needs_relaxation, name


def test_the_supernet_spaces_declare_a_mixed_path_and_nao_cnn_not_though_it_shares_a_grammar():
    assert methods.spaces_with(methods.MIXED_PATH) == ["enas-macro", "enas-micro", "enas-rnn:nodes=8"]
    assert get_space("nao-cnn").mixed_path is False
    for name in ("nao-cnn", "nas-rl"):
        with pytest.raises(ConfigError, match=f"space {name}[^ ]* has no mixed-op path"):
            get_space(name).relaxation(None)


class _Declared:
    """A space of someone else's package: only its name and what it declares."""

    def __init__(self, mixed_path: bool):
        self.name, self.mixed_path = "their-space", mixed_path


def test_a_space_is_judged_by_what_it_declares_not_by_its_class():
    assert methods.method_for("darts", _Declared(True), methods.IMAGE).name == "darts"
    with pytest.raises(ConfigError) as err:
        methods.method_for("snas", _Declared(False), methods.IMAGE)
    assert str(err.value) == (
        "--controller snas needs a supernet with a mixed-op path (a forward on op weights), "
        "which space their-space does not have; use --space enas-macro or enas-micro or "
        "enas-rnn:nodes=8 or "
        "--controller nao, rl, random, sf, relax, ram")
    for name in ("nao", "rl", "random", "sf", "relax", "ram"):  # they need no mixed path
        assert methods.method_for(name, _Declared(False), methods.IMAGE).name == name


@pytest.mark.parametrize("name", ["nao", "rl", "random", "darts", "snas", "sf", "relax", "ram"])
def test_every_method_runs_on_the_recurrent_cell(name):
    assert methods.method_for(name, get_space("enas-rnn:nodes=3"), methods.TEXT).name == name


def test_a_method_declared_for_images_only_is_refused_on_text_naming_those_that_run(
        monkeypatch):
    monkeypatch.setitem(methods.BUNDLED, "pixels", methods.OneShotMethod(
        "pixels", methods.RELAXED, "images only", tasks=(methods.IMAGE,)))
    assert methods.method_for("pixels", get_space("enas-micro"), methods.IMAGE).name == "pixels"
    with pytest.raises(ConfigError) as err:
        methods.method_for("pixels", get_space("enas-rnn:nodes=3"), methods.TEXT)
    assert str(err.value) == ("--controller pixels runs image supernets only (not "
                              "enas-rnn:nodes=3, a text space); use --controller nao, rl, "
                              "random, darts, snas, sf, relax, ram")


def test_an_unknown_method_names_every_known_one():
    with pytest.raises(ConfigError, match="unknown controller 'bogus'; choose one of nao, rl, "
                                          "random, darts, snas, sf, relax, ram$"):
        methods.method_for("bogus", get_space("enas-micro"), methods.IMAGE)


def test_the_command_line_offers_and_explains_every_method_of_the_table():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    ws = sub.choices["ws"]
    controller = next(a for a in ws._actions if a.dest == "controller")
    assert tuple(controller.choices) == tuple(methods.METHODS)
    for method in methods.METHODS.values():
        assert method.summary in controller.help
        assert not method.example or f"--set {method.example}" in controller.help


@pytest.mark.parametrize("argv, message", [
    (["--space", "enas-rnn:nodes=3", "--data", "kjv", "--controller", "darts", "--pool-size",
      "4"], "--controller darts has no pool: drop --pool-size"),
    (["--space", "enas-rnn:nodes=3", "--data", "kjv", "--controller", "ram", "--channels", "8"],
     "--channels configure image networks"),
    (["--space", "enas-rnn:nodes=3", "--data", "kjv", "--controller", "sf", "--set",
      "sf.bogus=1"], "bogus"),
    (["--space", "nao-cnn", "--controller", "darts"], "space nao-cnn has no supernet"),
])
def test_nao_ws_refuses_what_the_space_lacks_before_any_data_loads(argv, message, capsys,
                                                                    monkeypatch):
    from pipelines.commands import text_runs, ws

    def no_data(*_args, **_kwargs):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(ws, "load", no_data)
    monkeypatch.setattr(text_runs, "load", no_data)
    assert main(["ws", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
