"""The generic parts of :class:`SearchSpace` and the graph form ``nao show`` draws."""

from __future__ import annotations

import numpy as np
import pytest

from nao.errors import ConfigError, InvalidArchitectureError
from nao.space import TokenSpace
from search_spaces import available, get_space, offering, require, usage
from search_spaces.base import (
    Buildable,
    BuildableLM,
    CellGraph,
    GraphEdge,
    GraphNode,
    SearchSpace,
    Tabular,
)


class TwoBits(SearchSpace):
    """A space with no graph form: two binary tokens."""

    name = "two-bits"
    vocab = ("0", "1")
    length = 2

    def valid_tokens(self, prefix):
        return (0, 1) if len(prefix) < self.length else ()

    def to_tokens(self, arch):
        return tuple(arch)

    def _arch_from_tokens(self, tokens):
        return tuple(tokens)

    def to_string(self, arch):
        return "".join(map(str, arch))

    def from_string(self, text):
        return self.from_tokens([int(c) for c in text])


@pytest.mark.parametrize("family", available())
def test_every_registered_space_is_what_the_nao_estimator_needs(family):
    assert isinstance(get_space(family), TokenSpace)


def test_a_space_missing_a_member_nao_needs_is_not_a_token_space():
    assert isinstance(TwoBits(), TokenSpace)  # a SearchSpace needs nothing more

    class NoMask:
        name, vocab, length = "no-mask", ("0",), 1
        to_tokens = from_tokens = canonical = symmetries = TwoBits.to_tokens

    assert not isinstance(NoMask(), TokenSpace)
    NoMask.valid_mask = TwoBits.valid_mask
    assert isinstance(NoMask(), TokenSpace)


def test_a_space_without_a_graph_form_says_it_cannot_be_drawn():
    space = TwoBits()
    with pytest.raises(ConfigError, match="two-bits cannot be drawn"):
        space.graph(space.from_string("01"))


def test_cell_graph_rejects_an_edge_from_a_later_or_unknown_node():
    a, b = GraphNode("a", "a", "input"), GraphNode("b", "b", "op")
    CellGraph("ok", (a, b), (GraphEdge("a", "b"),))
    with pytest.raises(ValueError, match="not a node listed before a"):
        CellGraph("backwards", (a, b), (GraphEdge("b", "a"),))
    with pytest.raises(ValueError, match="unknown node"):
        CellGraph("stray", (a, b), (GraphEdge("a", "c"),))
    with pytest.raises(ValueError, match="kind"):
        CellGraph("kind", (GraphNode("a", "a", "hidden"),), ())


# ----- capabilities --------------------------------------------------------------------------
class TabularBits(TwoBits, Tabular):
    """Declares a table whose reading would fail: checking the capability must not read it."""

    name = "tabular-bits"

    @property
    def benchmark(self):
        raise AssertionError("the table was read to check a capability")

    def lookup(self, arch):
        return self.benchmark


def test_require_passes_a_space_that_declares_the_capability_without_reading_its_table():
    require(TabularBits(), Tabular, "nao benchmark")


@pytest.mark.parametrize("capability", [Tabular, Buildable])
def test_require_refuses_in_one_line_naming_the_spaces_that_have_the_capability(capability):
    offered = offering(capability)
    assert offered and all(isinstance(get_space(n), capability) for n in offered)
    with pytest.raises(ConfigError) as info:
        require(TwoBits(), capability, "nao frobnicate")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"space two-bits has no {capability.what}, which nao frobnicate")
    assert message.endswith(f"use one of: {', '.join(offered)}")


def test_a_capability_is_declared_not_sniffed():
    """Members of the right name do not make a space tabular; declaring it without them is a
    TypeError at construction, not a surprise in a command."""

    class Lookalike(TwoBits):
        benchmark, size = {}, 0

        def lookup(self, arch):
            return None

    with pytest.raises(ConfigError, match="has no table"):
        require(Lookalike(), Tabular, "nao benchmark")

    class Undeclared(TwoBits, Buildable):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Undeclared()


def test_the_bundled_spaces_declare_a_table_or_networks():
    assert offering(Tabular) == ["nasbench-graph:cora", "synthetic:positions=6,choices=5,seed=0"]
    assert offering(Buildable) == ["enas-macro", "enas-micro", "nao-cnn", "nas-rl:layers=6"]
    assert offering(BuildableLM) == ["enas-rnn:nodes=8"]


def test_the_help_names_every_family_with_options_that_really_parse():
    """The commands' ``--help`` lists ``usage()``: each entry, with its placeholders filled in,
    must be a name ``get_space`` accepts, so the help cannot drift from the parsers."""
    written = usage().removeprefix("spaces: ").split(", ")
    assert [entry.split(":")[0] for entry in written] == available()
    fill = {"DATASET": "citeseer", "N": "3", "C": "4", "L": "1", "a+b+c": "conv3+avg", "P": "3",
            "S": "1", "W": "0.5"}
    for entry in written:
        for placeholder, value in fill.items():
            entry = entry.replace(f"={placeholder}", f"={value}").replace(f":{placeholder}",
                                                                           f":{value}")
        assert get_space(entry).name.split(":")[0] == entry.split(":")[0]


# ----- the generic grammar, sampling and mutation --------------------------------------------
class ThreeOps(SearchSpace):
    """Three independent positions; "a" is never valid first and "d" never valid at all. An
    architecture whose tokens add up to an odd number breaks the whole-architecture rule."""

    name = "three-ops"
    vocab = ("a", "b", "c", "d")
    length = 3

    def valid_tokens(self, prefix):
        return (1, 2) if not prefix else (0, 1, 2)

    def to_tokens(self, arch):
        return tuple(arch)

    def _arch_from_tokens(self, tokens):
        return tuple(tokens)

    def to_string(self, arch):
        return "".join(self.vocab[t] for t in arch)

    def from_string(self, text):
        return self.from_tokens([self.vocab.index(c) for c in text])

    def describe_position(self, pos):
        return f"node {pos}"

    def check(self, arch):
        if sum(arch) % 2:
            raise InvalidArchitectureError(f"{arch} adds up to an odd number")


def test_a_wrong_token_is_shown_by_name_or_number_with_what_was_expected_and_where():
    space = ThreeOps()
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_tokens([0, 0, 0])
    assert str(info.value) == "three-ops: token 0 is 'a'; expected one of b, c at node 0"
    assert (info.value.position, info.value.expected) == (0, "b, c")
    for outside in (4, 5, -1):
        with pytest.raises(InvalidArchitectureError, match=f"token 1 is '{outside}';"):
            space.from_tokens([2, outside, 0])


def test_a_sequence_of_the_wrong_length_is_wrong_where_it_ends_without_naming_a_node():
    space = ThreeOps()
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_tokens([2, 0])
    assert (info.value.position, info.value.expected) == (2, "3 tokens")
    assert str(info.value) == "three-ops: expected 3 tokens, got 2 at node 2"
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_tokens([2, 0, 0, 0])
    assert info.value.position == 3
    assert str(info.value) == "three-ops: expected 3 tokens, got 4"


def test_the_whole_architecture_rule_sees_the_architecture_and_its_error_passes_unchanged():
    space = ThreeOps()
    assert space.from_tokens([2, 1, 1]) == (2, 1, 1)
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_tokens([1, 1, 1])
    assert str(info.value) == "(1, 1, 1) adds up to an odd number"
    assert info.value.position is None


def test_sample_retries_until_the_whole_architecture_rule_passes_and_says_when_it_cannot():
    space = ThreeOps()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    assert all(sum(a) % 2 == 0 for a in archs) and len(set(archs)) > 3

    class Odd(ThreeOps):
        def check(self, arch):
            raise InvalidArchitectureError("never")

    with pytest.raises(RuntimeError, match="three-ops: could not sample a valid architecture"):
        Odd().sample(rng)


def test_mutate_changes_exactly_one_decision_and_keeps_the_architecture_valid():
    rng = np.random.default_rng(1)
    for space, parent in ((ThreeOps(), (2, 0, 0)), (ThreeOps(), (1, 1, 0)), (TwoBits(), (0, 1))):
        for _ in range(30):
            child = space.mutate(parent, rng)
            assert sum(x != y for x, y in zip(parent, child, strict=True)) == 1, (parent, child)
            space.check(child)


def test_mutate_reaches_every_position_and_redraws_the_decisions_a_change_invalidates():
    space, parent, rng = ThreeOps(), (2, 0, 0), np.random.default_rng(4)
    changed = {next(i for i in range(3) if c[i] != parent[i])
               for c in (space.mutate(parent, rng) for _ in range(40))}
    assert changed == {1, 2}  # changing the first alone always breaks the parity rule

    class NoRepeat(TwoBits):
        """Two different tokens of three: changing the first can make the second invalid."""

        vocab = ("0", "1", "2")

        def valid_tokens(self, prefix):
            return tuple(t for t in range(3) if t not in prefix) if len(prefix) < 2 else ()

    children = {NoRepeat().mutate((0, 1), rng) for _ in range(40)}
    assert (1, 0) in children or (1, 2) in children  # the first became 1: the second redrawn
    assert all(a != b for a, b in children)


def test_mutate_without_a_different_neighbour_returns_a_fresh_sample():
    class AllOne(ThreeOps):
        def canonical(self, arch):
            return "the same"

    child = AllOne().mutate((2, 0, 0), np.random.default_rng(2))
    assert len(child) == 3 and sum(child) % 2 == 0


def test_distinct_takes_one_and_sample_distinct_skips_excluded_keys():
    space = ThreeOps()
    assert space.distinct([None, (2, 0, 0), (1, 1, 0)], 1, exclude={(9,)}) == [(2, 0, 0)]
    everything = space.sample_distinct(50, np.random.default_rng(3))
    excluded = {space.canonical(a) for a in everything[:4]}
    rest = space.sample_distinct(50, np.random.default_rng(3), exclude=excluded)
    assert not excluded & {space.canonical(a) for a in rest}
    assert len(rest) == len(everything) - 4


def test_cell_graph_finds_nodes_by_id_and_refuses_repeated_ids():
    a, b = GraphNode("a", "in", "input"), GraphNode("b", "conv", "op")
    assert CellGraph("g", (a, b), (GraphEdge("a", "b"),)).node("b") is b
    with pytest.raises(ValueError, match=r"^g: node ids repeat: \['a', 'a'\]"):
        CellGraph("g", (a, a), ())


def test_a_space_reads_as_its_class_and_name():
    assert repr(ThreeOps()) == "ThreeOps('three-ops')"
