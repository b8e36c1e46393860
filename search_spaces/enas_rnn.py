"""ENAS / NAO recurrent cell space (Pham et al. 2018; Luo et al. 2018, PTB): ``enas-rnn``.

N nodes (``enas-rnn:nodes=N``, default 8 as both papers); node 1 reads ``x_t`` and ``h_{t-1}``
and picks an activation, every later node picks an earlier node and an activation among tanh,
ReLU, identity and sigmoid; the cell output is the mean of the loose ends. The types live in
:mod:`.enas_rnn_arch`, the networks (cell, shared-weight supernet cell, word-level language
model) in :mod:`.enas_rnn_net`. The supernet cell also runs DARTS's relaxed cell (a mixed-op
path, ``mixed_path``); :mod:`.enas_rnn_relaxation` maps architecture parameters onto it.

Tokens: node 1's activation, then ``prev act`` for nodes 2..N (``2N - 1`` tokens); the
vocabulary is ``node1 .. node{N-1}`` then the activations. The string form lists the nodes,
node 1 first::

    tanh | 1 relu | 1 sigmoid | 2 identity

Each node reads exactly one earlier node, so a cell is a tree rooted at node 1: numbering its
nodes in another parent-before-child order gives the same network. :meth:`EnasRnnSpace.canonical`
renumbers the tree in a fixed order (depth first, children sorted by their subtrees) and
:meth:`EnasRnnSpace.symmetries` lists other numberings for NAO's augmentation.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping

import numpy as np

from nao.errors import ConfigError, InvalidArchitectureError
from nao.validation import shown

from .base import BuildableLM, CellGraph, GraphEdge, GraphNode, SearchSpace, Tokens
from .enas_rnn_arch import (
    ACTIVATIONS,
    CELL_INPUT,
    RnnArch,
    RnnNode,
    children,
    loose_ends,
    renumber,
)

DEFAULT_NODES = 8  # ENAS and NAO search cells of 8 nodes on PTB
MIN_NODES = 2
MAX_NODES = 24
MAX_SYMMETRIES = 8  # NAO's augmentation needs a few numberings, not all of them
FORM = "ACT | PREV ACT | ... (node 1 then nodes 2..N)"


class EnasRnnSpace(SearchSpace, BuildableLM):
    """``enas-rnn:nodes=N``: ``2N - 1`` tokens, ``4^N (N-1)!`` token sequences."""

    # the supernet cell runs RnnWeights: DARTS's relaxed recurrent cell (search_spaces.base)
    mixed_path = True

    def __init__(self, nodes: int = DEFAULT_NODES, max_symmetries: int = MAX_SYMMETRIES):
        if not isinstance(nodes, int) or not MIN_NODES <= nodes <= MAX_NODES:
            raise ConfigError(f"enas-rnn: nodes must be an integer from {MIN_NODES} to "
                              f"{MAX_NODES}, got {shown(nodes)}; e.g. enas-rnn:nodes=4")
        self.nodes = nodes
        self.name = f"enas-rnn:nodes={nodes}"
        self.max_symmetries = max_symmetries
        self.vocab = tuple(f"node{j}" for j in range(1, nodes)) + ACTIVATIONS
        self.length = 2 * nodes - 1
        self._act_ids = tuple(range(nodes - 1, nodes - 1 + len(ACTIVATIONS)))

    # ----- positions -----------------------------------------------------------------------
    @staticmethod
    def _locate(pos: int) -> tuple[int, str]:
        """(node number, ``"prev"`` or ``"act"``) of token position ``pos``."""
        if pos == 0:
            return 1, "act"
        node, field = divmod(pos + 3, 2)
        return node, ("prev", "act")[field]

    def describe_position(self, pos: int) -> str:
        """``token 3 (node 3, prev)``: what error messages point at."""
        if not 0 <= pos < self.length:
            return f"token {pos} (past the end; {self.length} tokens)"
        node, field = self._locate(pos)
        return f"token {pos} (node {node}, {field})"

    # ----- grammar -------------------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        pos = len(prefix)
        if pos >= self.length:
            return ()
        node, field = self._locate(pos)
        return self._act_ids if field == "act" else tuple(range(node - 1))

    # ----- conversions ---------------------------------------------------------------------
    def to_tokens(self, arch: RnnArch) -> Tokens:
        out: list[int] = []
        for k, node in enumerate(arch.nodes, start=1):
            if k > 1:
                out.append(int(node.prev) - 1)
            out.append(self.nodes - 1 + ACTIVATIONS.index(node.act))
        return tuple(out)

    def _arch_from_tokens(self, tokens: Tokens) -> RnnArch:
        nodes = [RnnNode(CELL_INPUT, self.vocab[tokens[0]])]
        for k in range(2, self.nodes + 1):
            prev, act = tokens[2 * k - 3], tokens[2 * k - 2]
            nodes.append(RnnNode(int(prev) + 1, self.vocab[act]))
        return RnnArch(tuple(nodes))

    def to_string(self, arch: RnnArch) -> str:
        parts = [arch.nodes[0].act] + [f"{n.prev} {n.act}" for n in arch.nodes[1:]]
        return " | ".join(parts)

    def from_string(self, text: str) -> RnnArch:
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: expected a string of the form {FORM!r}, got {type(text).__name__}",
                position=None, expected=FORM)
        parts = [p.split() for p in text.split("|")]
        tokens: list[int] = []
        for k in range(1, self.nodes + 1):
            fields = parts[k - 1] if k - 1 < len(parts) else []
            want = 1 if k == 1 else 2
            if len(fields) != want:
                shape = "ACT" if k == 1 else "PREV ACT"
                raise InvalidArchitectureError(
                    f"{self.name}: node {k} has {len(fields)} field(s) {shown(' '.join(fields))}; "
                    f"expected {want} ({shape}) at {self.describe_position(len(tokens))}",
                    position=len(tokens), expected=shape)
            for value in fields:
                tokens.append(self._parse_field(value, tuple(tokens)))
        if len(parts) > self.nodes:
            raise InvalidArchitectureError(
                f"{self.name}: {len(parts)} nodes separated by '|'; expected {self.nodes} "
                f"({FORM})", position=len(tokens), expected="end of input")
        return self._arch_from_tokens(tuple(tokens))

    def _parse_field(self, value: str, prefix: Tokens) -> int:
        """Token id of one field of the string form, checked against the grammar."""
        allowed = self.valid_tokens(prefix)
        names = [str(t + 1) if t < self.nodes - 1 else self.vocab[t] for t in allowed]
        if value in names:
            return allowed[names.index(value)]
        raise InvalidArchitectureError(
            f"{self.name}: {shown(value)} at {self.describe_position(len(prefix))}; "
            f"expected one of "
            f"{', '.join(names)}", position=len(prefix), expected=", ".join(names))

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: RnnArch) -> list[CellGraph]:
        """Inputs ``x`` (x_t) and ``h`` (h_{t-1}), nodes ``1..N`` with their activation on the
        edge in, and ``out``, the mean of the loose ends (the new hidden state)."""
        nodes = [GraphNode("x", "x_t", "input"), GraphNode("h", "h_{t-1}", "input")]
        edges = []
        for k, node in enumerate(arch.nodes, start=1):
            nodes.append(GraphNode(str(k), f"node {k}", "op"))
            sources = ("x", "h") if k == 1 else (str(node.prev),)
            edges += [GraphEdge(src, str(k), node.act) for src in sources]
        nodes.append(GraphNode("out", "mean = h_t", "output"))
        edges += [GraphEdge(str(k), "out") for k in loose_ends(arch)]
        return [CellGraph("cell", tuple(nodes), tuple(edges))]

    # ----- equivalence ---------------------------------------------------------------------
    def canonical(self, arch: RnnArch) -> Tokens:
        """Tokens of the cell renumbered depth first from node 1, children in the order of
        their subtrees' keys: every numbering of one tree gets the same key."""
        return self.to_tokens(renumber(arch, _canonical_order(arch)))

    def symmetries(self, arch: RnnArch) -> list[RnnArch]:
        """``arch``, its canonical numbering and other parent-before-child numberings (random
        ones from a generator seeded by ``arch``'s tokens, so a call always gives the same
        list), up to ``max_symmetries``."""
        out = [arch]
        seen = {self.to_tokens(arch)}

        def add(order: list[int]) -> None:
            variant = renumber(arch, order)
            tokens = self.to_tokens(variant)
            if tokens not in seen and len(out) < self.max_symmetries:
                seen.add(tokens)
                out.append(variant)

        add(_canonical_order(arch))
        rng = np.random.default_rng(zlib.crc32(bytes(self.to_tokens(arch))))
        kids = children(arch)
        for _ in range(4 * self.max_symmetries):
            order, ready = [], [1]
            while ready:  # a random linear extension of the tree
                order.append(ready.pop(int(rng.integers(len(ready)))))
                ready += kids[order[-1]]
            add(order)
        return out

    # ----- networks ------------------------------------------------------------------------
    def relaxation(self, params):
        """Architecture parameters onto the supernet cell's activation and input weights
        (:class:`search_spaces.enas_rnn_relaxation.RnnRelaxation`)."""
        from .enas_rnn_relaxation import RnnRelaxation

        return RnnRelaxation(self, params)

    def build_lm(self, arch: RnnArch, vocab_size: int, hidden_size: int,
                 dropouts: Mapping[str, float] | None = None):
        """A word-level language model whose recurrent cell is ``arch`` alone."""
        from .enas_rnn_net import EnasRnnCell, WordLM, resolve_dropouts

        self.from_tokens(self.to_tokens(arch))  # reject foreign architectures early
        drop = resolve_dropouts(dropouts)
        cell = EnasRnnCell(arch, hidden_size, hidden_size, drop["dropoutx"], drop["dropouth"])
        return WordLM(cell, vocab_size, hidden_size, drop)

    def build_lm_supernet(self, vocab_size: int, hidden_size: int,
                          dropouts: Mapping[str, float] | None = None):
        """A word-level language model whose cell holds a weight matrix for every (node, earlier
        node) pair: ``model(x, arch)`` runs any cell of the space (ENAS weight sharing)."""
        from .enas_rnn_net import SupernetCell, WordLM, resolve_dropouts

        drop = resolve_dropouts(dropouts)
        cell = SupernetCell(self.nodes, hidden_size, hidden_size, drop["dropoutx"],
                            drop["dropouth"])
        return WordLM(cell, vocab_size, hidden_size, drop)


def _canonical_order(arch: RnnArch) -> list[int]:
    kids = children(arch)
    keys: dict[int, tuple] = {}
    for k in range(len(arch.nodes), 0, -1):  # children have larger numbers than their parent
        keys[k] = (ACTIVATIONS.index(arch.nodes[k - 1].act), tuple(sorted(keys[c] for c in kids[k])))
    order: list[int] = []
    stack = [1]
    while stack:
        k = stack.pop()
        order.append(k)
        stack += sorted(kids[k], key=lambda c: keys[c], reverse=True)  # smallest key visited first
    return order


def parse_options(arg: str | None) -> int:
    """Nodes from the text after ``enas-rnn:`` (``None``: the default)."""
    if arg is None:
        return DEFAULT_NODES
    key, eq, value = arg.partition("=")
    if key != "nodes" or not eq or not re.fullmatch(r"[1-9][0-9]{0,2}", value):
        raise ConfigError(f"enas-rnn: option {shown(arg)} not understood; use enas-rnn:nodes=N "
                          f"(N from {MIN_NODES} to {MAX_NODES}) or plain enas-rnn "
                          f"({DEFAULT_NODES} nodes)")
    return int(value)
