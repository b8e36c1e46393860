"""ENAS macro space (Pham et al. 2018): a whole network of ``L`` layers (12 by default), each
picking one of six ops and a skip connection from each earlier node; the op set can be restricted
to study how much of a search's result is the space's ("search-space poisoning", Jain et al.).

Nodes are 0 (the stem) and ``j`` (layer ``j``). Layer ``j`` runs its op on node ``j - 1`` and
has one skip bit for each node ``0 .. j - 2`` (see :mod:`.enas_macro_arch`). Tokens, layer by
layer: the op, then the skip bits, ``L + L (L - 1) / 2`` in all (78 for 12 layers). The
vocabulary is always all six ops plus the bits ``0`` and ``1``; a restricted space only masks
the ops it lacks, so an architecture has the same tokens in every space that holds it. The
string form is ENAS's own listing, one layer per ``|``::

    conv3 | sep5 1 | max 0 1 | ...

Options after ``enas-macro:``: ``layers=N`` and ``ops=a+b+c`` (``ops=a,b,c`` too), e.g.
``enas-macro:layers=6,ops=conv5+sep5+avg``. Every token sequence is a distinct network, so the
canonical key is the tokens themselves and the only symmetry is the architecture itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nao.errors import ConfigError, InvalidArchitectureError
from nao.validation import shown

from .base import Buildable, CellGraph, GraphEdge, GraphNode, SearchSpace, Tokens
from .enas_macro_arch import (
    DEFAULT_LAYERS,
    OPS,
    STEM,
    Layer,
    MacroArch,
    inputs_of,
    reduction_points,
)

if TYPE_CHECKING:  # the networks import torch: built on demand, not with the space
    from .enas_macro_net import MacroChild, MacroSupernet

FAMILY = "enas-macro"
BITS = ("0", "1")
MAX_LAYERS = 24  # ENAS's largest macro network (its final CIFAR-10 one)
OPTION_NAMES = ("layers", "ops")
EXAMPLE = f"{FAMILY}:layers=6,ops=conv5+sep5+avg"
OPTIONS_HELP = (f"{FAMILY} takes layers=N (1-{MAX_LAYERS}, default {DEFAULT_LAYERS}) and "
                f"ops=a+b+c (a subset of {'+'.join(OPS)}), e.g. {EXAMPLE}")


class EnasMacroSpace(SearchSpace, Buildable):
    """``enas-macro``: ``layers`` layers, each an op of ``ops`` and skip bits from earlier
    nodes."""

    cell_layers = False  # the depth is the space's ``layers=N``, not cells per stage

    def __init__(self, layers: int = DEFAULT_LAYERS, ops: Sequence[str] = OPS):
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MAX_LAYERS:
            raise ConfigError(f"{FAMILY}: layers must be a whole number in 1..{MAX_LAYERS}, "
                              f"got {shown(layers)}; e.g. {EXAMPLE}")
        ops = tuple(ops)
        if unknown := [op for op in ops if op not in OPS]:
            raise ConfigError(f"{FAMILY}: unknown op {shown(unknown[0])}; choose ops from "
                              f"{', '.join(OPS)} (e.g. {EXAMPLE})")
        if twice := sorted({op for op in ops if ops.count(op) > 1}):
            raise ConfigError(f"{FAMILY}: op {shown(twice[0])} is listed twice in ops; list each "
                              f"once, e.g. {EXAMPLE}")
        if not ops:
            raise ConfigError(f"{FAMILY}: ops is empty; list at least one of {', '.join(OPS)}")
        if layers == 1 and len(ops) == 1:
            raise ConfigError(f"{FAMILY}: one layer with one op is a single architecture, "
                              "nothing to search; give more layers or more ops")
        self.n_layers = layers
        self.ops = tuple(op for op in OPS if op in ops)  # the set, in vocabulary order
        options = ([f"layers={layers}"] if layers != DEFAULT_LAYERS else []) + (
            [f"ops={'+'.join(self.ops)}"] if self.ops != OPS else [])
        self.name = FAMILY + (":" + ",".join(options) if options else "")
        self.vocab = OPS + BITS
        self.length = layers + layers * (layers - 1) // 2
        self._op_ids = tuple(OPS.index(op) for op in self.ops)
        self._bit_ids = tuple(len(OPS) + b for b in range(len(BITS)))
        # (layer j, field f) of each position: f = 0 the op, f >= 1 the skip bit of node f - 1
        self._where = [(j, f) for j in range(1, layers + 1) for f in range(j)]

    @classmethod
    def from_options(cls, text: str | None) -> EnasMacroSpace:
        """The space of the text after ``enas-macro:`` (``None``: the full 12-layer space)."""
        if text is None:
            return cls()
        if not text.strip():
            raise ConfigError(f"{FAMILY}: nothing after ':'; {OPTIONS_HELP}, or use plain "
                              f"{FAMILY}")
        layers, ops = DEFAULT_LAYERS, list(OPS)
        key, given = None, []
        for piece in (p.strip() for p in text.split(",")):
            name, eq, value = piece.partition("=")
            if eq:
                key = name.strip()
                if key not in OPTION_NAMES or key in given:
                    what = "is given twice" if key in given else "is not an option"
                    raise ConfigError(f"{FAMILY}: {shown(key)} {what}; {OPTIONS_HELP}")
                given.append(key)
                if key == "layers":
                    try:
                        if not re.fullmatch(r"\s*-?[0-9]+\s*", value):  # not '1_0', '+5', '٣'
                            raise ValueError(value)
                        layers = int(value)
                    except ValueError:  # also a number too long for int()
                        raise ConfigError(f"{FAMILY}: layers={shown(value)} is not a whole number; "
                                          f"{OPTIONS_HELP}") from None
                else:
                    ops = [v.strip() for v in value.split("+")]
            elif key == "ops" and piece:  # ops=conv5,sep5,avg: the list goes on after commas
                ops += [v.strip() for v in piece.split("+")]
            else:
                raise ConfigError(f"{FAMILY}: {shown(piece)} is not an option; {OPTIONS_HELP}")
        if "" in ops:
            raise ConfigError(f"{FAMILY}: an empty op name in ops; {OPTIONS_HELP}")
        return cls(layers, ops)

    # ----- positions -----------------------------------------------------------------------
    def describe_position(self, pos: int) -> str:
        """``token 8 (layer 4, skip from layer 1)``: what error messages point at."""
        if not 0 <= pos < self.length:
            return f"token {pos} (past the end; {self.length} tokens)"
        j, field = self._where[pos]
        if field == 0:
            return f"token {pos} (layer {j}, op)"
        node = field - 1
        source = "the stem" if node == STEM else f"layer {node}"
        return f"token {pos} (layer {j}, skip from {source})"

    def layer_start(self, j: int) -> int:
        """Position of layer ``j``'s op token."""
        return (j - 1) * j // 2

    # ----- grammar -------------------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        pos = len(prefix)
        if pos >= self.length:
            return ()
        return self._op_ids if self._where[pos][1] == 0 else self._bit_ids

    # ----- conversions ---------------------------------------------------------------------
    def to_tokens(self, arch: MacroArch) -> Tokens:
        out: list[int] = []
        for j, layer in enumerate(arch.layers, 1):
            if layer.op not in OPS:
                raise InvalidArchitectureError(
                    f"{self.name}: layer {j} has op {shown(layer.op)}; expected one of "
                    f"{', '.join(self.ops)}", position=len(out), expected=", ".join(self.ops))
            out.append(OPS.index(layer.op))
            out += [len(OPS) + int(bit) for bit in layer.skips]
        return tuple(out)

    def _arch_from_tokens(self, tokens: Tokens) -> MacroArch:
        layers = []
        for j in range(1, self.n_layers + 1):
            start = self.layer_start(j)
            layers.append(Layer(self.vocab[tokens[start]],
                                tuple(t - len(OPS) for t in tokens[start + 1:start + j])))
        return MacroArch(tuple(layers))

    def to_string(self, arch: MacroArch) -> str:
        return " | ".join(" ".join([layer.op, *map(str, layer.skips)]) for layer in arch.layers)

    def from_string(self, text: str) -> MacroArch:
        form = "OP | OP B | OP B B | ... (layer j: an op, then j-1 skip bits 0/1)"
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: expected a string of the form {form!r}, got {type(text).__name__}",
                position=None, expected=form)
        parts = text.split("|")
        tokens: list[int] = []
        for j, part in enumerate(parts[:self.n_layers], 1):
            fields = part.split()
            for field in fields[:j]:
                tokens.append(self._parse_field(field, tuple(tokens)))
            if len(fields) != j:
                pos = len(tokens)
                short = len(fields) < j
                raise InvalidArchitectureError(
                    f"{self.name}: layer {j} has {len(fields)} field(s) {shown(part.strip())}; "
                    f"expected an op and {j - 1} skip bit(s) 0/1 at "
                    f"{self.describe_position(pos)}",
                    position=pos, expected=self.expected_at(tuple(tokens)) if short else "|")
        if len(parts) != self.n_layers:
            raise InvalidArchitectureError(
                f"{self.name}: {len(parts)} layer(s) separated by '|'; expected "
                f"{self.n_layers} ({form})",
                position=len(tokens), expected="|" if len(parts) < self.n_layers
                else "end of input")
        return self._arch_from_tokens(tuple(tokens))

    def _parse_field(self, field: str, prefix: Tokens) -> int:
        """Token id of one field of the string form, checked against the grammar."""
        allowed = self.valid_tokens(prefix)
        names = [self.vocab[t] for t in allowed]
        if field in names:
            return allowed[names.index(field)]
        raise InvalidArchitectureError(
            f"{self.name}: {shown(field)} at {self.describe_position(len(prefix))}; "
            f"expected one of "
            f"{', '.join(names)}", position=len(prefix), expected=", ".join(names))

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: MacroArch) -> list[CellGraph]:
        """The whole network as one chain: the stem, one box per layer (its op; "then /2"
        after a reduction layer), a wire from each layer to the next and one per skip connection
        (no op on any of them: ``nao show`` draws the chain as a row with the skips as arcs), and
        the output (global pool, linear) after the last."""
        points = reduction_points(self.n_layers)
        nodes = [GraphNode(str(STEM), "stem", "input")]
        edges = []
        for j, layer in enumerate(arch.layers, 1):
            label = f"{j} {layer.op}" + (", then /2" if j in points else "")
            nodes.append(GraphNode(str(j), label, "op"))
            sources = inputs_of(arch, j)
            edges.append(GraphEdge(str(sources[0]), str(j)))
            edges += [GraphEdge(str(i), str(j)) for i in sources[1:]]
        nodes.append(GraphNode("out", "pool, linear", "output"))
        edges.append(GraphEdge(str(self.n_layers), "out"))
        return [CellGraph("network", tuple(nodes), tuple(edges))]

    # ----- networks ------------------------------------------------------------------------
    mixed_path = True  # the supernet runs MacroWeights: what darts and snas train through

    def relaxation(self, params):
        """Architecture parameters onto the supernet's op and skip weights
        (:class:`search_spaces.enas_macro_relaxation.MacroRelaxation`)."""
        from .enas_macro_relaxation import MacroRelaxation

        return MacroRelaxation(self, params)

    def build_supernet(self, channels: int, num_classes: int, layers: int,
                       in_channels: int, stem_stride: int = 1) -> MacroSupernet:
        """One network holding the weights of every child (ENAS weight sharing): every op of
        the space at every layer. The depth is the space's (``enas-macro:layers=N``); the
        ``layers`` network option, cells per stage in the cell spaces, does not apply."""
        from .enas_macro_net import MacroSupernet

        return MacroSupernet(self.n_layers, self.ops, channels, num_classes, in_channels,
                             stem_stride)

    def build(self, arch: MacroArch, channels: int, num_classes: int, layers: int,
              in_channels: int, auxiliary: bool = False, drop_path: float = 0.0,
              stem_stride: int = 1) -> MacroChild:
        """The child network of ``arch`` alone (depth from ``arch``, as in
        :meth:`build_supernet`), for training from scratch or from the supernet's weights
        (:meth:`MacroChild.load_from_supernet`)."""
        from .enas_macro_net import MacroChild

        self.from_tokens(self.to_tokens(arch))  # reject foreign architectures early
        return MacroChild(arch, channels, num_classes, in_channels, auxiliary=auxiliary,
                          drop_path=drop_path, stem_stride=stem_stride)
