"""The one place where errors become what a user sees: one line on stderr, exit 2 for bad input,
exit 1 and a pointer to ``--debug`` for anything unexpected, the traceback only with
``--debug``; plus ``--version``, ``--help`` and the malformed ``--space`` names."""

from __future__ import annotations

import errno
import importlib.metadata
import pathlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import assert_one_line_error, run_cli

import pipelines.commands.search as search_command
from nao.errors import ConfigError
from pipelines import cli
from pipelines.cli import main
from search_spaces import available, get_space

SEARCH = ["search", "--strategy", "random", "--budget", "3", "--quiet"]


def raising(exc: BaseException):
    def run(_args):
        raise exc

    return run


def test_unexpected_exception_is_one_line_naming_debug_and_exit_1(capsys, monkeypatch):
    monkeypatch.setattr(search_command, "run", raising(RuntimeError("boom\nsecond line")))
    code, out, err = run_cli(capsys, *SEARCH)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("nao search: internal error: RuntimeError: boom second line")
    assert "nao --debug search" in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_debug_flag_shows_the_traceback_then_the_line(capsys, monkeypatch, where):
    monkeypatch.setattr(search_command, "run", raising(RuntimeError("boom")))
    args = ["--debug", *SEARCH] if where == "before the command" else [*SEARCH, "--debug"]
    code, _, err = run_cli(capsys, *args)
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert 'raise exc' in err  # the frame where it happened
    assert err.strip().splitlines()[-1].startswith("nao search: internal error: RuntimeError")


def test_bad_input_with_debug_keeps_exit_2_and_adds_the_traceback(capsys):
    code, _, err = run_cli(capsys, "--debug", "search", "--space", "bogus")
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("nao search: error: unknown search space")


def test_a_multi_line_user_error_is_still_one_line(capsys, monkeypatch):
    monkeypatch.setattr(search_command, "run", raising(ConfigError("first\n  second")))
    code, _, err = run_cli(capsys, *SEARCH)
    assert code == 2
    assert err == "nao search: error: first second\n"


@pytest.mark.parametrize(
    ("exc", "fragments"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/runs/a/store.sqlite"),
         ["/runs/a/store.sqlite: No space left on device", "free some space"]),
        (PermissionError(errno.EACCES, "Permission denied", "/runs/b"),
         ["/runs/b: Permission denied", "choose a path you may write to"]),
        (sqlite3.OperationalError("database or disk is full"),
         ["database or disk is full", "disk has space"]),
        (sqlite3.DatabaseError("file is not a database"), ["file is not a database"]),
    ],
)
def test_os_and_sqlite_errors_become_one_clear_line(capsys, monkeypatch, exc, fragments):
    monkeypatch.setattr(search_command, "run", raising(exc))
    code, out, err = run_cli(capsys, *SEARCH)
    assert out == ""
    assert_one_line_error(code, err, *fragments, command="search")


def test_a_bare_interrupt_says_interrupted_and_claims_nothing(capsys, monkeypatch):
    monkeypatch.setattr(search_command, "run", raising(KeyboardInterrupt()))
    code, _, err = run_cli(capsys, *SEARCH)
    assert code == 130
    assert err == "nao search: interrupted\n"


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nao {importlib.metadata.version('nao')}"


def test_version_without_an_installed_distribution_still_answers(capsys, monkeypatch):
    def missing(_name):
        raise importlib.metadata.PackageNotFoundError("nao")

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == "nao unknown (not installed)"


def test_help_description_is_whole_sentences(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert " ".join(cli.DESCRIPTION.split()) in out
    assert cli.DESCRIPTION.endswith(".")
    assert "--debug" in out and "--version" in out


def test_show_quiet_prints_only_the_picture_path_and_json_is_unchanged(capsys, tmp_path):
    arch = ["show", "--arch", "0,0,1,2:gcn,gat,sage,skip", "--out", str(tmp_path / "a.png")]
    code, loud, _ = run_cli(capsys, *arch)
    assert code == 0 and len(loud.strip().splitlines()) > 1  # the text graph, then the path
    code, quiet, _ = run_cli(capsys, *arch, "--quiet")
    assert code == 0 and quiet == f"wrote {(tmp_path / 'a.png').resolve()}\n"
    assert quiet.strip() == loud.strip().splitlines()[-1]
    code, as_json, _ = run_cli(capsys, *arch, "--json")
    code_q, as_json_quiet, _ = run_cli(capsys, *arch, "--json", "--quiet")
    assert code == code_q == 0 and as_json == as_json_quiet


# ----- --space names ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("nasbench-graph:", ["needs a dataset after ':'", "cora, citeseer"]),
        ("nasbench-graph:cora:x", ["unknown NAS-Bench-Graph dataset 'cora:x'", "cora, citeseer"]),
        ("nasbench-graph: cora", ["unknown NAS-Bench-Graph dataset ' cora'"]),
        ("enas-micro:foo", ["enas-micro takes no option after ':' (got 'foo')"]),
        ("enas-micro:", ["enas-micro takes no option after ':' (got '')"]),
        (" ", ["unknown search space ' '", "enas-micro", "nasbench-graph"]),
        ("", ["unknown search space ''"]),
        (":cora", ["unknown search space ':cora'"]),
        ("nas-rl:layers=a", ["nas-rl: unknown option 'layers=a'", "nas-rl:layers=6"]),
        ("nas-rl:layers=0", ["nas-rl: layers must be a whole number from 1 to 20, got 0"]),
        ("enas-macro:layers=-1", ["enas-macro: layers must be a whole number in 1..24"]),
        ("enas-macro:layers=1_0", ["enas-macro: layers='1_0' is not a whole number"]),
        ("enas-rnn:nodes=x", ["enas-rnn: option 'nodes=x' not understood"]),
        ("nao-cnn:channels=", ["nao-cnn: channels='' is not a whole number"]),
        ("nao-cnn:bogus=1", ["nao-cnn: 'bogus=1' is not an option"]),
    ],
)
def test_malformed_space_names_are_one_line_before_any_work(capsys, monkeypatch, name,
                                                             fragments):
    monkeypatch.setattr(search_command, "run_search",
                        raising(AssertionError("searched a malformed space")))
    code, _, err = run_cli(capsys, *SEARCH, "--space", name)
    assert_one_line_error(code, err, *fragments, command="search")


SPACE_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(lambda family, sep, rest: family + sep + rest,
              st.sampled_from([*available(), "NASBENCH-GRAPH", "enas"]),
              st.sampled_from(["", ":", "::"]), st.text(max_size=15)),
)


@settings(max_examples=150, deadline=None)
@given(SPACE_TEXT)
def test_any_space_name_gives_a_space_or_a_config_error(name):
    try:
        space = get_space(name)
    except ConfigError as exc:
        assert "\n" not in str(exc)  # names are quoted, so the message stays one line
        return
    family, sep, _ = name.partition(":")
    assert family in available()
    assert space.name == name or (not sep and space.name.startswith(family))


def commands_with_out() -> list[str]:
    """Every subcommand that takes ``--out``, read from the parser itself."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return sorted(name for name, parser in sub.choices.items()
                  if any("--out" in a.option_strings for a in parser._actions))


def test_the_commands_with_out_are_found():
    assert {"search", "ws", "train", "benchmark", "show"} <= set(commands_with_out())


@pytest.mark.parametrize("command", commands_with_out())
@pytest.mark.parametrize("out", [["--out", ""], ["--out="], ["--out", "  "]])
def test_an_empty_out_is_refused_in_one_line_by_every_command(capsys, command, out):
    code, stdout, err = run_cli(capsys, command, *out)
    assert stdout == ""
    assert_one_line_error(code, err, "argument --out: ", "is an empty path; give a path",
                          "or drop --out", command=command)


def test_a_given_out_keeps_its_own_type():
    parser = cli.build_parser()
    assert parser.parse_args(["show", "--arch", "x", "--out", "a.png"]).out == pathlib.Path("a.png")
    assert parser.parse_args(["search", "--out", "run1"]).out == "run1"
