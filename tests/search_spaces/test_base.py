"""The generic parts of :class:`SearchSpace` and the graph form ``nao show`` draws."""

from __future__ import annotations

import pytest

from nao.errors import ConfigError
from nao.space import TokenSpace
from search_spaces import available, get_space
from search_spaces.base import CellGraph, GraphEdge, GraphNode, SearchSpace


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
