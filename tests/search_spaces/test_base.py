"""The generic parts of :class:`SearchSpace` and the graph form ``nao show`` draws."""

from __future__ import annotations

import pytest

from nao.errors import ConfigError
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
    assert offering(Tabular) == ["nasbench-graph:cora"]
    assert offering(Buildable) == ["enas-macro", "enas-micro", "nao-cnn", "nas-rl:layers=6"]
    assert offering(BuildableLM) == ["enas-rnn:nodes=8"]


def test_the_help_names_every_family_with_options_that_really_parse():
    """The commands' ``--help`` lists ``usage()``: each entry, with its placeholders filled in,
    must be a name ``get_space`` accepts, so the help cannot drift from the parsers."""
    written = usage().removeprefix("spaces: ").split(", ")
    assert [entry.split(":")[0] for entry in written] == available()
    fill = {"DATASET": "citeseer", "N": "3", "C": "4", "L": "1", "a+b+c": "conv3+avg"}
    for entry in written:
        for placeholder, value in fill.items():
            entry = entry.replace(f"={placeholder}", f"={value}").replace(f":{placeholder}",
                                                                           f":{value}")
        assert get_space(entry).name.split(":")[0] == entry.split(":")[0]
