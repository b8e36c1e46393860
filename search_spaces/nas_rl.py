"""``nas-rl:layers=N``: Zoph & Le's layer-wise convolutional space (NAS with RL, ICLR 2017).

Depth is fixed per run (``layers``, default 6). Layer ``i`` is written as four tokens, filter
height, filter width, number of filters and stride, then one skip bit for each earlier layer
``j < i`` (the paper's anchor points): ``4 * N + N * (N - 1) / 2`` tokens in all. The types are
in :mod:`.nas_rl_arch`, the network in :mod:`.nas_rl_net`; children train from scratch, so the
space offers ``build`` and no supernet.

The string form lists the layers separated by ``|``; each is ``HxW FILTERS sSTRIDE`` and then,
for each earlier layer ``j``, ``j`` when layer ``j`` feeds it or ``-`` when not::

    3x5 36 s1 | 1x1 24 s2 0 | 7x7 64 s1 - 1

(layer 0 reads the image, layer 1 reads layer 0, layer 2 reads layer 1; only layer 2, the last,
feeds the classifier, since every other layer is read by a later one).
"""

from __future__ import annotations

import re

from nao.errors import ConfigError, InvalidArchitectureError
from nao.validation import shown

from .base import Buildable, CellGraph, GraphEdge, GraphNode, SearchSpace, Tokens
from .nas_rl_arch import (
    DEFAULT_LAYERS,
    FILTER_COUNTS,
    FILTER_SIZES,
    LAYER_FIELDS,
    MAX_LAYERS,
    STRIDES,
    Layer,
    NasRlArch,
    loose_ends,
)

FAMILY = "nas-rl"
SKIP_OFF, SKIP_ON = "noskip", "skip"
# each field's tokens: vocabulary name -> value
CHOICES: dict[str, dict[str, object]] = {
    "height": {f"h{k}": k for k in FILTER_SIZES},
    "width": {f"w{k}": k for k in FILTER_SIZES},
    "filters": {f"f{n}": n for n in FILTER_COUNTS},
    "stride": {f"s{s}": s for s in STRIDES},
    "skip": {SKIP_OFF: False, SKIP_ON: True},
}
FORM = "HxW FILTERS sSTRIDE [j or - per earlier layer] | ... (e.g. 3x5 36 s1 | 1x1 24 s2 0)"


def layer_offset(i: int) -> int:
    """Position of layer ``i``'s first token (layer ``k`` has ``4 + k`` tokens)."""
    return len(LAYER_FIELDS) * i + i * (i - 1) // 2


class NasRlSpace(SearchSpace, Buildable):
    """``nas-rl:layers=N``: N convolution layers, each with its filter shape, filter count,
    stride and skip connections from every earlier layer."""

    cell_layers = False  # the depth is the space's ``layers=N``, not cells per stage
    has_supernet = False  # its children train from scratch

    def __init__(self, layers: int = DEFAULT_LAYERS):
        if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= MAX_LAYERS:
            raise ConfigError(f"{FAMILY}: layers must be a whole number from 1 to {MAX_LAYERS}, "
                              f"got {shown(layers)}; e.g. {FAMILY}:layers={DEFAULT_LAYERS}")
        self.layers = layers
        self.name = f"{FAMILY}:layers={layers}"
        self.vocab = tuple(name for field in CHOICES.values() for name in field)
        self.length = layer_offset(layers)
        self._ids = {field: tuple(self.vocab.index(n) for n in names)
                     for field, names in CHOICES.items()}
        self._fields = [self._locate(p) for p in range(self.length)]

    # ----- positions -----------------------------------------------------------------------
    def _locate(self, pos: int) -> tuple[int, str, int | None]:
        """(layer, field, earlier layer for a skip bit) of token position ``pos``."""
        i = 0
        while i + 1 < self.layers and layer_offset(i + 1) <= pos:
            i += 1
        k = pos - layer_offset(i)
        if k < len(LAYER_FIELDS):
            return i, LAYER_FIELDS[k], None
        return i, "skip", k - len(LAYER_FIELDS)

    def describe_position(self, pos: int) -> str:
        """``token 13 (layer 2, width)``: what error messages point at."""
        if not 0 <= pos < self.length:
            return f"token {pos} (past the end; {self.length} tokens)"
        i, field, j = self._fields[pos]
        what = field if j is None else f"skip from layer {j}"
        return f"token {pos} (layer {i}, {what})"

    # ----- grammar -------------------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        pos = len(prefix)
        if pos >= self.length:
            return ()
        return self._ids[self._fields[pos][1]]

    # ----- conversions ---------------------------------------------------------------------
    def _value(self, pos: int, token: int):
        """The value of ``token`` at ``pos``; a token the field does not take keeps its name."""
        name = self.vocab[token]
        return CHOICES[self._fields[pos][1]].get(name, name)

    def _token(self, pos: int, value) -> int:
        field = self._fields[pos][1]
        for name, v in CHOICES[field].items():
            if v == value and type(v) is type(value):
                return self.vocab.index(name)
        if isinstance(value, str) and value in self.vocab:
            return self.vocab.index(value)
        choices = ", ".join(map(str, CHOICES[field].values()))
        raise InvalidArchitectureError(
            f"{self.name}: {shown(value)} is no {field} at {self.describe_position(pos)}; expected "
            f"one of {choices}", position=pos, expected=choices)

    def to_tokens(self, arch: NasRlArch) -> Tokens:
        out: list[int] = []
        for layer in arch:
            for value in (*layer[:len(LAYER_FIELDS)], *layer.skips):
                out.append(self._token(len(out), value))
        return tuple(out)

    def _arch_from_tokens(self, tokens: Tokens) -> NasRlArch:
        layers = []
        for i in range(self.layers):
            start = layer_offset(i)
            values = [self._value(start + k, tokens[start + k])
                      for k in range(len(LAYER_FIELDS) + i)]
            layers.append(Layer(*values[:len(LAYER_FIELDS)], tuple(values[len(LAYER_FIELDS):])))
        return tuple(layers)

    def to_string(self, arch: NasRlArch) -> str:
        def show(value, fmt: str) -> str:
            return value if isinstance(value, str) else fmt.format(value)

        parts = []
        for layer in arch:
            words = [f"{show(layer.height, '{}')}x{show(layer.width, '{}')}",
                     show(layer.filters, "{}"), show(layer.stride, "s{}")]
            words += [on if isinstance(on, str) else (str(j) if on else "-")
                      for j, on in enumerate(layer.skips)]
            parts.append(" ".join(words))
        return " | ".join(parts)

    def from_string(self, text: str) -> NasRlArch:
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: expected a string of the form {FORM!r}, got {type(text).__name__}",
                position=None, expected=FORM)
        chunks = text.split("|")
        tokens: list[int] = []
        for i in range(self.layers):
            if i >= len(chunks):
                raise self._error(len(tokens), f"layer {i} is missing ({len(chunks)} of "
                                               f"{self.layers} layers given, separated by '|')")
            tokens += self._parse_layer(i, chunks[i].split())
        if len(chunks) > self.layers:
            raise InvalidArchitectureError(
                f"{self.name}: {len(chunks)} layers given, separated by '|'; expected "
                f"{self.layers} ({FORM})", position=self.length, expected="end of input")
        return self._arch_from_tokens(tuple(tokens))

    def _parse_layer(self, i: int, words: list[str]) -> list[int]:
        start = layer_offset(i)
        shape = words[0].split("x") if words else []
        if len(shape) != 2:
            raise self._error(start, f"layer {i} must start with HxW (filter height x width), "
                                     f"got {shown((words or [''])[0])}")
        fields = [*shape, *words[1:]]
        wanted = len(LAYER_FIELDS) + i
        tokens: list[int] = []
        for k in range(wanted):
            pos = start + k
            if k >= len(fields):
                raise self._error(pos, f"layer {i} ends early ({len(fields) - 1} words; it "
                                       f"needs HxW, filters, stride and {i} skip mark(s))")
            tokens.append(self._parse_word(pos, fields[k]))
        if len(fields) > wanted:
            raise InvalidArchitectureError(
                f"{self.name}: layer {i} has {len(fields) - 1} words, expected {wanted - 1} "
                f"(HxW, filters, stride and {i} skip mark(s)): {shown(' '.join(words))}",
                position=start + wanted, expected="|" if i + 1 < self.layers else "end of input")
        return tokens

    def _parse_word(self, pos: int, word: str) -> int:
        """The token of one word of the string form at ``pos``, checked against the grammar."""
        _, field, j = self._fields[pos]
        form_of = {"height": "{}", "width": "{}", "filters": "{}", "stride": "s{}"}
        if field == "skip":
            names = {str(j): SKIP_ON, "-": SKIP_OFF}
        else:
            names = {form_of[field].format(v): name for name, v in CHOICES[field].items()}
        if word in names:
            return self.vocab.index(names[word])
        raise self._error(pos, f"{shown(word)} is no {field if j is None else 'skip mark'}; "
                               f"expected one of {', '.join(names)}", ", ".join(names))

    def _error(self, pos: int, why: str, expected: str | None = None) -> InvalidArchitectureError:
        expected = expected or self.expected_at(())
        return InvalidArchitectureError(f"{self.name}: {why} at {self.describe_position(pos)}",
                                        position=pos, expected=expected)

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: NasRlArch) -> list[CellGraph]:
        """The whole network: the image, one node per layer fed by the layers it reads (or the
        image), and the classifier fed by the loose ends."""
        nodes = [GraphNode("image", "image", "input")]
        edges = []
        for i, layer in enumerate(arch):
            me = f"L{i}"
            nodes.append(GraphNode(me, f"L{i} conv {layer.height}x{layer.width} "
                                       f"{layer.filters} /{layer.stride}", "op"))
            sources = [f"L{j}" for j in layer.inputs] or ["image"]
            edges += [GraphEdge(src, me) for src in sources]
        nodes.append(GraphNode("out", "pool + classifier", "output"))
        edges += [GraphEdge(f"L{i}", "out") for i in loose_ends(arch)]
        return [CellGraph("network", tuple(nodes), tuple(edges))]

    # ----- networks ------------------------------------------------------------------------
    def build(self, arch: NasRlArch, channels: int, num_classes: int, layers: int,
              in_channels: int, auxiliary: bool = False, drop_path: float = 0.0,
              stem_stride: int = 1):
        """The child network. The architecture fixes its depth and widths, so ``channels`` and
        ``layers`` are not used; it has no auxiliary head, no paths to drop and no stem."""
        from .nas_rl_net import NasRlNetwork

        return NasRlNetwork(arch, num_classes, in_channels)

    def build_supernet(self, channels: int, num_classes: int, layers: int, in_channels: int,
                       stem_stride: int = 1):
        raise ConfigError(f"{self.name} has no supernet: its children train from scratch; "
                          f"search it with nao search --space {self.name} --data ... "
                          "(nao ws is for weight-sharing spaces)")


def parse_options(arg: str | None) -> NasRlSpace:
    """``nas-rl`` or ``nas-rl:layers=N``."""
    if arg is None:
        return NasRlSpace()
    match = re.fullmatch(r"\s*layers\s*=\s*([0-9]{1,4})\s*", arg)
    if match is None:
        raise ConfigError(f"{FAMILY}: unknown option {shown(arg)}; the one option is layers=N "
                          f"(1 to {MAX_LAYERS}), e.g. {FAMILY}:layers={DEFAULT_LAYERS}")
    return NasRlSpace(int(match.group(1)))
