"""User text of any length comes back in an error cut to a short form (``nao.validation.shown``):
a 100,000-character value of any option of any command, and any part of an architecture string
of any space, gives one short line, never the text itself."""

from __future__ import annotations

import re

import numpy as np
import pytest
from support import assert_one_line_error, run_cli

from nao.errors import InvalidArchitectureError
from nao.validation import _MAX_SHOWN
from pipelines import cli
from search_spaces import available, get_space

LONG = "x" * 100_000
MAX_LINE = 1000  # an error line, whatever was typed: the longest today lists options (~460)
# a valid enas-micro architecture (nao train's default space) and a tiny training run
MICRO_ARCH = ("normal: 0 identity 1 identity | 0 identity 1 identity | 0 identity 1 identity | "
              "0 identity 1 identity | 0 identity 1 identity ; reduce: 0 identity 1 identity | "
              "0 identity 1 identity | 0 identity 1 identity | 0 identity 1 identity | "
              "0 identity 1 identity")
# what each command needs besides the option under test to get as far as checking it
REQUIRED = {
    "train": ["--data", "standin:1x8x8", "--epochs", "1", "--channels", "4", "--arch",
              MICRO_ARCH],
    "show": ["--arch", "0,1,1,2:gcn,gat,gcn,gat"],
}
# options read only by a text space: given one, so that the value is read at all
TEXT_ONLY = {"--dropout": ["--space", "enas-rnn"]}
# what --set is given: the whole item, a long key, a long value, a long nested key
SETTINGS = {"item": LONG, "key": f"{LONG}=1", "value": f"top_k={LONG}",
            "nested key": f"nao_params.{LONG}=1"}


def assert_cut(err: str, code: int) -> None:
    """One error line that quotes no more than a cut form of the long text (``nao: error:``
    when the top level refuses it, as an unknown command)."""
    if err.startswith("nao: error: "):
        assert code == 2 and err.count("\n") == 1 and err.endswith("\n"), err[:200]
        line = err.rstrip("\n")
    else:
        line = assert_one_line_error(code, err)
    assert "x" * (_MAX_SHOWN + 1) not in line, line[:200]
    assert len(line) < MAX_LINE, line[:200]


def valued_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes a value."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return [(name, action.option_strings[0]) for name, parser in sub.choices.items()
            for action in parser._actions
            if action.option_strings and action.nargs != 0
            and action.option_strings[0] not in ("-h", "--help", "--debug")]


def cases() -> list:
    out = []
    for command, option in valued_options():
        values = SETTINGS if option == "--set" else {"value": LONG}
        if option == "--out":  # a picture's name too (show checks the suffix first)
            values = {"value": LONG, "picture": f"{LONG}.png"}
        for what, value in values.items():
            argv = [command, *REQUIRED.get(command, []), *TEXT_ONLY.get(option, []), option,
                    value, "--quiet"]
            if option == "--arch":  # the one under test, not the one REQUIRED gives
                argv = [command, *[w for w in REQUIRED[command] if w not in ("--arch",
                        REQUIRED[command][REQUIRED[command].index("--arch") + 1])],
                        option, value, "--quiet"]
            out.append(pytest.param(argv, id=f"{command} {option} ({what})"))
    return out


def test_the_cases_cover_the_options_the_user_trial_named():
    ids = {p.id for p in cases()}
    for case in ("search --space (value)", "show --arch (value)", "train --arch (value)",
                 "search --set (key)", "search --set (value)", "search --strategy (value)",
                 "predictor-eval --set (key)", "ws --controller (value)", "search --out (value)"):
        assert case in ids, case


@pytest.mark.parametrize("argv", cases())
def test_a_long_value_of_any_option_is_refused_in_one_short_line(capsys, tmp_path, monkeypatch,
                                                                  argv):
    monkeypatch.chdir(tmp_path)  # an --out that were accepted would land here
    code, out, err = run_cli(capsys, *argv)
    assert out == ""
    assert_cut(err, code)


@pytest.mark.parametrize("argv", [
    [LONG],  # the command
    ["search", "--quiet", LONG],  # an unrecognized argument
    ["search", "--quiet", *[f"{LONG}{i}" for i in range(10)]],  # many of them
    ["search", "--quiet", f"--{LONG}"],  # an unknown option
], ids=["command", "argument", "arguments", "unknown option"])
def test_a_long_word_argparse_refuses_is_cut_too(capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    assert_cut(err, code)


def arch_variants(space, rng) -> list[str]:
    """Long architecture strings: all long, long before or after a valid one, each word of a
    valid one made long, a valid one repeated, a separator of it repeated."""
    good = space.to_string(space.sample(rng))
    words = re.split(r"(\W+)", good)
    out = [LONG, good + LONG, LONG + good, ";".join([good] * 2000)]
    for i, word in enumerate(words):
        if re.match(r"\w", word):
            out.append("".join(words[:i] + [LONG] + words[i + 1:]))
    out += [good + (sep + "x") * 30_000 for sep in sorted(set(re.findall(r"[^\w\s]", good)))]
    return out


@pytest.mark.parametrize("family", available())
def test_a_long_architecture_string_is_refused_in_one_short_line(family):
    space = get_space(family)
    for text in arch_variants(space, np.random.default_rng(0)):
        with pytest.raises(InvalidArchitectureError) as error:
            space.from_string(text)
        message = str(error.value)
        assert "\n" not in message
        assert "x" * (_MAX_SHOWN + 1) not in message, (family, message[:200])
        assert len(message) < MAX_LINE, (family, message[:200])
