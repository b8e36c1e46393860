"""Fuzzing every parser and option check a user's input reaches (hypothesis): random text and
JSON-like values either succeed or raise the package's own one-line error (argparse's
``ArgumentTypeError`` for argparse types), never anything else."""

from __future__ import annotations

import argparse
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nao.errors import InvalidArchitectureError, NaoError
from nao.estimator import NAO
from pipelines.commands import common
from pipelines.search.benchmark import base_strategy, label_of, parse_strategies, split_options
from pipelines.strategies import STRATEGIES, make_strategy, option_names
from pipelines.training.data import DATASETS, STANDIN_MAX_VALUES, _standin_shape, load_data
from search_spaces import DEFAULT_SPACE, available, get_space

FUZZ = settings(max_examples=150, deadline=None)
FEW = settings(max_examples=60, deadline=None)  # for the slower targets (strategies are built)


# JSON-ish values, as ``--set KEY=VALUE`` or a Python caller can pass them
scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=12) | st.sampled_from(["abc", "maybe", "1e308", "null", ""]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=6)


def clean(call):
    """``call()``'s result, or None when it raised a :class:`NaoError` with a one-line message;
    any other exception fails the test."""
    try:
        return call()
    except NaoError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return None


# ----- --set KEY=VALUE ---------------------------------------------------------------------
key_parts = st.sampled_from(["top_k", "nao_params", "epochs", "nao", "rl", "a", "", " "]) \
    | st.text(max_size=5)
keys = st.lists(key_parts, min_size=1, max_size=3).map(".".join)
raw_values = st.text(max_size=15) | json_values.map(json.dumps) | st.sampled_from(
    ["9" * 5000, "[" * 5000, "NaN", "-Infinity", "1e999", '{"a": {"b": 1}}'])
settings_items = st.lists(st.builds(lambda k, sep, v: f"{k}{sep}{v}", keys,
                                    st.sampled_from(["=", "=", ""]), raw_values)
                          | st.text(max_size=15), max_size=4)


@FUZZ
@given(settings_items)
def test_parse_settings_gives_nested_options_or_one_line_error(items):
    result = clean(lambda: common.parse_settings(items))
    if result is not None:
        assert isinstance(result, dict)
        for item in items:  # every setting is in the result, under its dotted key
            names = [n.strip() for n in item.partition("=")[0].split(".")]
            node = result
            for name in names[:-1]:
                node = node[name]
            assert names[-1] in node


# ----- --strategies ------------------------------------------------------------------------
entries = st.sampled_from([*STRATEGIES, "bogus", "", " ", "x=nao", "a.b=rl", "nao=random",
                           "n\nx=nao", "ens=nao", "ens=rl"]) | st.text(max_size=6)
strategy_lists = st.lists(entries, max_size=4).map(",".join) | st.text(max_size=20)


@FUZZ
@given(strategy_lists, settings_items)
def test_parse_strategies_and_split_options_accept_only_known_distinct_names(text, items):
    parsed = clean(lambda: parse_strategies(text))
    if parsed is None:
        return
    labels = [label_of(e) for e in parsed]
    assert all(base_strategy(e) in STRATEGIES for e in parsed)
    assert len(set(labels)) == len(labels) and all(labels)
    options = clean(lambda: split_options(common.parse_settings(items), parsed))
    if options is not None:
        assert set(options) == set(labels) and all(isinstance(v, dict) for v in options.values())


# ----- every strategy's options --------------------------------------------------------------
def typed_values(annotation: str, wild: bool):
    """Values of an option's annotated type, near and beyond its likely range (``wild``: mixed
    with anything at all)."""
    typed = []
    if "int" in annotation:
        typed.append(st.integers(1, 50) | st.integers(1, 50) | st.integers(-2, 0))
    if "float" in annotation:
        typed.append(st.floats(0, 1) | st.floats(1, 120) | st.integers(1, 9) | st.floats(-1, 0))
    if "bool" in annotation:
        typed.append(st.booleans())
    if "str" in annotation:
        typed.append(st.sampled_from(["all", "latest", "std", "none", "rank", "minmax", "x"]))
    if "dict" in annotation:
        typed.append(st.dictionaries(st.sampled_from([*NAO._PARAMS, "bogus"]),
                                     st.integers(0, 50) | st.floats(0, 1) | json_values,
                                     max_size=2))
    if "None" in annotation:
        typed.append(st.none())
    return st.one_of(*typed, json_values) if wild else st.one_of(*typed)


def option_annotations(name: str) -> dict[str, str]:
    import inspect

    params = inspect.signature(STRATEGIES[name].cls.__init__).parameters
    return {n: str(params[n].annotation) for n in option_names(STRATEGIES[name].cls)}


def strategy_options(name: str, wild: bool):
    annotations = option_annotations(name)
    one = st.sampled_from(sorted(annotations)).flatmap(
        lambda n: st.tuples(st.just(n), typed_values(annotations[n], wild)))
    options = st.lists(one, max_size=3).map(dict)
    if not wild:
        return options
    return options | st.builds(lambda o, v: {**o, "bogus": v}, options, json_values)


@pytest.mark.parametrize("wild", [False, True], ids=["typed", "anything"])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_make_strategy_builds_a_working_strategy_or_names_the_bad_option(name, wild):
    space = get_space(DEFAULT_SPACE)

    @FEW
    @given(strategy_options(name, wild))
    def check(options):
        strategy = clean(lambda: make_strategy(name, space, random_state=0, **options))
        if strategy is not None:  # what was accepted also works
            archs = strategy.ask(2)
            assert 1 <= len(archs) <= 2
            assert len({space.canonical(a) for a in archs}) == len(archs)

    check()


# ----- argparse number types -----------------------------------------------------------------
number_text = (st.text(max_size=12) | st.from_regex(r"\A[-+ ]?[0-9_.eE]{0,10}\Z")
               | st.sampled_from(["inf", "-inf", "nan", "1e999", "9" * 5000, "-0", " 7 "])
               | st.integers().map(str) | st.floats().map(str))
ARG_TYPES = {"positive_int": lambda v: v >= 1, "non_negative_int": lambda v: v >= 0,
             "fraction": lambda v: 0 <= v < 1, "non_negative_float": lambda v: v >= 0,
             "positive_float": lambda v: v > 0}


@pytest.mark.parametrize("type_name", sorted(ARG_TYPES))
def test_argparse_number_types_give_a_value_in_range_or_a_type_error(type_name):
    parse = getattr(common, type_name)

    @FUZZ
    @given(number_text)
    def check(text):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            return
        assert math.isfinite(value) and ARG_TYPES[type_name](value)

    check()


# ----- architecture strings -------------------------------------------------------------------
# Any text is fuzzed for every space by tests/search_spaces/test_space_contract.py; what is left
# here is input that is not text at all, as a Python caller can pass it.
@pytest.mark.parametrize("space_name", [{"nasbench-graph": "nasbench-graph:cora"}.get(f, f)
                                        for f in available()])
@pytest.mark.parametrize("value", [None, 5, 1.5, b"0,0,0,0:gcn,gcn,gcn,gcn", ["normal"]])
def test_from_string_of_a_value_that_is_not_text_is_one_line_naming_the_space(space_name, value):
    space = get_space(space_name)
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_string(value)
    message = str(info.value)
    assert space.name in message and "\n" not in message


@FUZZ
@given(st.sampled_from(["nasbench-graph", "enas-micro", "nasbench-graph:", "enas-micro:x",
                        "nasbench-graph:cora", "nasbench-graph:proteins"]) | st.text(max_size=20)
       | st.builds("{}:{}".format, st.sampled_from(["nasbench-graph", "enas-micro"]),
                   st.text(max_size=10)))
def test_get_space_gives_a_space_or_one_line_error(name):
    space = clean(lambda: get_space(name))
    if space is not None:
        assert space.length > 0 and space.vocab


# ----- data set names -------------------------------------------------------------------------
@FUZZ
@given(st.text(max_size=20) | st.from_regex(r"\A[0-9]{0,8}x[0-9]{0,8}x[0-9]{0,8}\Z")
       | st.sampled_from(["9" * 5000 + "x1x1", "3x32x32", "0x1x1", "3x32", "3x512x512"]))
def test_standin_shapes_parse_within_the_memory_cap_or_give_one_line(arg):
    shape = clean(lambda: _standin_shape(arg))
    if shape is not None:
        assert len(shape) == 3 and min(shape) >= 1 and math.prod(shape) <= STANDIN_MAX_VALUES


@FUZZ
@given(st.text(max_size=20) | st.builds("{}:{}".format, st.sampled_from(DATASETS),
                                         st.text(min_size=1, max_size=10)))
def test_a_data_set_name_that_names_nothing_is_one_line_before_loading(name):
    family, _, arg = name.partition(":")
    if family in DATASETS and (not arg or family == "standin"):
        return  # a real data set (loading it is not name parsing)
    assert clean(lambda: load_data(name)) is None


@pytest.mark.parametrize("items", [
    ["top_k.top_k=1", "top_k=2"],  # a group, then a value under the same name
    ["top_k=2", "top_k.top_k=1"],  # a value, then a group
    ["nao_params.epochs=5", "nao_params=null"],
])
def test_a_name_set_as_both_value_and_group_is_refused_in_either_order(items):
    with pytest.raises(NaoError, match="both a value and a group"):
        common.parse_settings(items)


def test_a_value_set_twice_keeps_the_last_and_groups_merge():
    assert common.parse_settings(["top_k=1", "top_k=2"]) == {"top_k": 2}
    assert common.parse_settings(["nao_params.epochs=5", "nao_params.lr=0.1"]) == {
        "nao_params": {"epochs": 5, "lr": 0.1}}
