"""Fuzzing the option parsers behind the names a user writes: every space family's options
(``family:key=value,...``, keys taken from the family's usage string) and every strategy's
``--set`` keys (nested ones included). The outcome is a working space or strategy, or the
package's one-line error (what the command line turns into exit 2), never anything else."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipelines.commands.search as search_command
from nao.errors import ConfigError, NaoError
from nao.estimator import NAO
from pipelines.cli import main
from pipelines.commands.common import parse_settings
from pipelines.strategies import STRATEGIES, Strategy, make_strategy, option_names
from search_spaces import DEFAULT_SPACE, SearchSpace, Tabular, available, get_space, usage

SPACES = settings(max_examples=120, deadline=None)
SETS = settings(max_examples=60, deadline=None)  # strategies cost more to build
CLI = settings(max_examples=20, deadline=None)
# the largest number an accepted space name may carry (a 32-bit seed): every numeric option has
# an explicit bound, so no name can ask for a network of 10**9 channels
MAX_OPTION_NUMBER = 2**31 - 1


def one_line_error(call):
    """``call()``'s result, or None when it raised a :class:`NaoError` whose message is one
    non-empty line; any other exception fails the test."""
    try:
        return call()
    except NaoError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, repr(message)
        return None


# ----- what the usage string says each family takes -------------------------------------------
def usage_entries() -> dict[str, str]:
    """Each family's entry of ``usage()``, e.g. ``nao-cnn:nodes=N,channels=C,layers=L``."""
    text = usage().removeprefix("spaces: ")
    entries = {}
    for family in sorted(available(), key=len, reverse=True):  # enas-macro before enas
        match = re.search(rf"(?:^|, ){re.escape(family)}(:[^ ]*?)?(?=, |$)", text)
        assert match, f"usage() does not list {family}: {text}"
        entries[family] = family + (match.group(1) or "")
    return entries


def usage_options(family: str) -> tuple[list[str], list[str]]:
    """(keys, positional placeholders) of a family's usage entry: ``nasbench-graph:DATASET``
    has the placeholder DATASET, ``enas-rnn:nodes=N`` the key nodes."""
    _, _, options = usage_entries()[family].partition(":")
    keys, positional = [], []
    for piece in filter(None, options.split(",")):
        key, eq, _ = piece.partition("=")
        (keys if eq else positional).append(key)
    return keys, positional


def default_space(family: str) -> SearchSpace | None:
    try:
        return get_space(family)
    except ConfigError:
        return None


REAL_TOKENS = sorted({t for f in available() if (s := default_space(f)) for t in s.vocab})
REAL_KEYS = sorted({k for f in available() for k in usage_options(f)[0]})
FAKE_TOKENS = ["a", "b", "c", "conv", "CONV3", "sep_conv_9x9", " ", "", "+", "é", "\x00"]

# values as the text after ``key=``: in range, zero, negative, huge, fractional, empty, text,
# op lists, unicode (fullwidth and Arabic digits are digits to int())
option_values = st.one_of(
    st.integers(1, 30).map(str),
    st.sampled_from(["0", "-0", "00", "+3", " 4 ", "1_0", "３", "٣", "0x10", "2.0", "1e3", "1e999",
                     "nan", "inf", "-inf", "", " ", "true", "null", "10**9"]),
    st.integers(-10**6, -1).map(str),
    st.integers(31, 10**40).map(str),
    st.just("9" * 5000),
    st.floats().map(str),
    st.text(max_size=10),
    st.text(st.characters(min_codepoint=0x80), max_size=6),
    st.lists(st.sampled_from(REAL_TOKENS + FAKE_TOKENS), max_size=5).map("+".join),
)
option_keys = st.sampled_from(REAL_KEYS) | st.sampled_from(
    ["LAYERS", " layers ", "layer", "op", "x", "", "=", "node\ns"]) | st.text(max_size=6)


near_values = st.one_of(
    st.integers(1, 30).map(str),
    st.integers(2, 8).map(str),
    st.integers(-3, 0).map(str),
    st.integers(31, 10**12).map(str),
    st.sampled_from([" 4 ", "+3", "1_0", "３", "2.0", "1e3", "9" * 5000]),
    st.lists(st.sampled_from(REAL_TOKENS), min_size=1, max_size=4).map("+".join),
)


def option_lists(family: str):
    """``key=value[,key=value]``: half near-valid (the family's own keys, each once, with
    numbers in and out of range or real op lists), half wild (any keys, stray separators, any
    values); a family with a positional option gets bare values too."""
    keys, positional = usage_options(family)
    own = st.sampled_from(keys) if keys else st.nothing()
    near = st.lists(st.tuples(own, near_values), min_size=1, max_size=len(keys),
                    unique_by=lambda kv: kv[0]).map(lambda kvs: ",".join(map("=".join, kvs))) \
        if keys else st.nothing()
    pair = st.builds(lambda k, sep, v: f"{k}{sep}{v}", own | own | option_keys,
                     st.sampled_from(["=", "=", "=", "==", " = ", ""]), option_values)
    wild = st.lists(pair, min_size=1, max_size=3).map(",".join)
    if positional:
        near = st.sampled_from(["cora", "proteins", "arxiv"]) | near_values
        wild = wild | option_values
    return st.one_of(near, near, near, wild, wild, st.text(max_size=15),
                     st.sampled_from(["", ",", "=", ":"]))


def accepted_space_is_sane(family: str, name: str, space) -> None:
    assert isinstance(space, SearchSpace) and space.length > 0 and space.vocab, name
    assert space.name.partition(":")[0] == family, (name, space.name)
    assert get_space(space.name).name == space.name, name  # the canonical name reads back
    numbers = [int(n) for n in re.findall(r"[0-9]+", space.name.partition(":")[2])]
    assert all(n <= MAX_OPTION_NUMBER for n in numbers), (name, space.name)


@pytest.mark.parametrize("family", available())
def test_every_family_option_gives_a_bounded_space_or_one_line_naming_the_family(family):
    @SPACES
    @given(option_lists(family))
    def check(options):
        name = f"{family}:{options}"
        try:
            space = get_space(name)
        except ConfigError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message, repr(message)
            flat = message.lower().replace("-", "")  # NAS-Bench-Graph is nasbench-graph
            assert family.replace("-", "") in flat, (name, message)
            return
        accepted_space_is_sane(family, name, space)

    check()


NUMERIC = [(f, k) for f in available() for k in usage_options(f)[0]
           if re.search(rf"(?:^|[:,]){k}=[A-Z](?:,|$)", usage_entries()[f])]


@pytest.mark.parametrize(("family", "key"), NUMERIC)
@pytest.mark.parametrize("value", [str(10**12), "-1"])
def test_every_numeric_option_has_an_explicit_bound_named_in_its_error(family, key, value):
    with pytest.raises(ConfigError) as info:
        get_space(f"{family}:{key}={value}")
    message = str(info.value)
    assert key in message and value in message and "\n" not in message


def test_the_usage_string_gives_numeric_options_to_fuzz():
    assert ("nao-cnn", "channels") in NUMERIC and ("enas-rnn", "nodes") in NUMERIC


# ----- --set KEY=VALUE for every strategy ---------------------------------------------------
def strategy_keys(name: str) -> list[str]:
    """The ``--set`` keys of a strategy: its options, and ``option.key`` for each key of an
    option that is a dict (from its default, its preset, and for the estimator's options the
    estimator's parameters)."""
    entry = STRATEGIES[name]
    built = make_strategy(name, get_space(DEFAULT_SPACE), random_state=0)
    params = inspect.signature(entry.cls.__init__).parameters
    keys = []
    for option in option_names(entry.cls):
        keys.append(option)
        default = getattr(built, option, None)
        if "dict" in str(params[option].annotation) or isinstance(default, dict):
            nested = set(default or {}) | set(entry.preset.get(option) or {})
            if option == "nao_params":
                nested |= set(NAO._PARAMS)
            keys += [f"{option}.{k}" for k in sorted(nested)]
    return keys


set_values = st.one_of(
    st.integers(0, 60).map(str),
    st.sampled_from(["-1", "0", "1", "2", "0.5", "1.0", "1e-9", "1e308", "1e999", "NaN",
                     "Infinity", "-Infinity", "true", "false", "null", "", " ", "[]", "{}",
                     "[1, 2]", '{"a": 1}', '"x"', "all", "latest", "mean", "ucb", "rank",
                     "minmax", "hinge", "cpu", "cuda:7", "9" * 5000, "[" * 3000]),
    st.integers(-10**6, 10**30).map(str),
    st.floats().map(json.dumps),
    st.text(max_size=10),
    st.text(st.characters(min_codepoint=0x80), max_size=6),
)
other_keys = (st.sampled_from(["bogus", "nao_params.bogus", "nao_params.x.y", "top_k.x", "a.",
                               ".a", "a..b", " ", "NAO_PARAMS.epochs"])
              | st.text(max_size=8))


def set_items(name: str):
    own = st.sampled_from(strategy_keys(name))
    item = st.builds("{}={}".format, own | own | own | other_keys, set_values)
    return st.lists(item | st.text(max_size=10), max_size=3)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_set_key_gives_a_strategy_or_one_line(name):
    space = get_space(DEFAULT_SPACE)

    @SETS
    @given(set_items(name))
    def check(items):
        options = one_line_error(lambda: parse_settings(items))
        if options is None:
            return
        strategy = one_line_error(lambda: make_strategy(name, space, random_state=0, **options))
        if strategy is not None:
            assert isinstance(strategy, Strategy) and strategy.space is space

    check()


def test_every_dict_option_has_nested_keys_to_fuzz():
    assert any(k.startswith("nao_params.") for k in strategy_keys("nao"))
    assert "nao_params.embedding_size" in strategy_keys("nao-paper")


# ----- the command line: one line, exit 2, before any work ----------------------------------
class ReachedTheSearch(NaoError):
    """Raised where ``nao search`` would start its engine: the input was all accepted."""


def reached(*_args, **_kwargs):
    raise ReachedTheSearch("reached the search")


def cli_settings(name: str):
    return st.lists(st.builds("{}={}".format, st.sampled_from(strategy_keys(name)), set_values),
                    max_size=2)


cli_cases = st.sampled_from(sorted(STRATEGIES)).flatmap(lambda s: st.tuples(
    st.just(s),
    st.sampled_from(available()).flatmap(lambda f: option_lists(f).map(f"{f}:{{}}".format))
    | st.just(DEFAULT_SPACE),
    cli_settings(s)))


@CLI
@given(cli_cases)
def test_search_command_refuses_bad_options_in_one_line_with_exit_2_before_any_work(case):
    strategy, space_name, items = case
    argv = ["search", "--space", space_name, "--strategy", strategy, "--budget", "3", "--quiet",
            *[a for item in items for a in ("--set", item)]]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        mp.setattr(search_command, "make_engine", reached)
        mp.setattr(search_command, "run_search", reached)
        code = main(argv)
    lines = err.getvalue().splitlines()
    assert code == 2 and out.getvalue() == "", (argv, code, err.getvalue())
    assert len(lines) == 1 and lines[0].startswith("nao search: error: "), (argv, lines)
    # the same input checked directly: a refused space is refused with the parser's message,
    # and a table space with accepted options reaches the search (where it is stopped)
    try:
        space = get_space(space_name)
    except ConfigError as exc:
        assert lines[0] == f"nao search: error: {exc}", (argv, lines)
        return
    options = one_line_error(lambda: parse_settings(items))
    built = options is not None and one_line_error(
        lambda: make_strategy(strategy, space, random_state=0, **options))
    if built and isinstance(space, Tabular):
        assert lines[0] == "nao search: error: reached the search", (argv, lines)


@pytest.mark.parametrize("argv", [
    ["search", "--strategy", "random", "--set", "random_state=1"],
    ["search", "--strategy", "nao", "--set", "space=0"],
    ["search", "--strategy", "rl", "--set", "name=x"],
    ["benchmark", "--strategies", "random", "--set", "random.random_state=1"],
    ["benchmark", "--strategies", "evolution", "--set", "evolution.space=1"],
])
def test_a_set_key_naming_an_argument_of_the_loop_is_an_unknown_option(argv):
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(search_command, "run_search", reached)
        code = main([*argv, "--budget", "3", "--quiet"])
    key = argv[-1].rpartition(".")[2].partition("=")[0]
    assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()
    assert f"has no option {key};" in err.getvalue()


def test_the_optuna_sampler_refuses_random_state_among_the_strategy_options():
    pytest.importorskip("optuna")
    from pipelines.strategies.optuna_sampler import NAOSampler

    with pytest.raises(ConfigError, match="has no option random_state"):
        NAOSampler(seed=0, strategy="random", strategy_options={"random_state": 1})
