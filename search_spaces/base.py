"""The :class:`SearchSpace` interface every strategy and NAO itself are written against.

An architecture is written as a fixed-length sequence of token ids. The space, not its users,
knows which tokens are valid at each position given the prefix; NAO's decoder, the RL controller
and mutation all ask :meth:`SearchSpace.valid_tokens`, so none of them holds grammar rules of its
own.

What a command needs beyond the tokens is a capability a space declares by subclassing it beside
:class:`SearchSpace`: :class:`Tabular` (a table of recorded accuracies: ``search``, ``benchmark``,
``predictor-eval``) and :class:`Buildable` (networks: ``train``, ``ws``). Commands check them with
``search_spaces.require``, never by probing for attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import numpy as np

from nao.errors import ConfigError, InvalidArchitectureError

from .tabular import Record, TabularBenchmark

if TYPE_CHECKING:
    from torch import nn

Arch = Any  # a space-specific, hashable, immutable value (a NamedTuple in the bundled spaces)
Tokens = tuple[int, ...]
NodeKind = Literal["input", "op", "output"]
NODE_KINDS: tuple[str, ...] = get_args(NodeKind)


@dataclass(frozen=True)
class GraphNode:
    """One box of a drawn architecture; ``id`` is what edges and the text form refer to."""

    id: str
    label: str
    kind: NodeKind


@dataclass(frozen=True)
class GraphEdge:
    """``src`` feeds ``dst``; ``label`` names the op on the edge (``None``: a plain wire)."""

    src: str
    dst: str
    label: str | None = None


@dataclass(frozen=True)
class CellGraph:
    """A named DAG: one cell (or a whole network) of an architecture, nodes in topological
    order. What :meth:`SearchSpace.graph` returns and ``nao show`` draws."""

    name: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def __post_init__(self):
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: node ids repeat: {ids}")
        for n in self.nodes:
            if n.kind not in NODE_KINDS:
                raise ValueError(f"{self.name}: node {n.id} has kind {n.kind!r}")
        seen: set[str] = set()
        for n in self.nodes:  # every edge comes from an earlier node
            for e in self.inputs_of(n.id):
                if e.src not in seen:
                    raise ValueError(f"{self.name}: edge {e.src} -> {e.dst}: {e.src} is not a "
                                     f"node listed before {e.dst}")
            seen.add(n.id)
        if stray := [e for e in self.edges if e.dst not in seen]:
            raise ValueError(f"{self.name}: edge into unknown node {stray[0].dst}")

    def node(self, node_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == node_id)

    def inputs_of(self, node_id: str) -> tuple[GraphEdge, ...]:
        """Edges into ``node_id``, in the order the architecture lists them."""
        return tuple(e for e in self.edges if e.dst == node_id)


class SearchSpace(ABC):
    """A family of architectures written as token sequences.

    Subclasses set ``name``, ``vocab`` (token strings) and ``length`` and implement
    :meth:`valid_tokens`, :meth:`to_tokens`, :meth:`_arch_from_tokens`, :meth:`to_string` and
    :meth:`from_string`. Everything else has a generic default.
    """

    name: str
    vocab: tuple[str, ...]
    length: int

    # ----- grammar -------------------------------------------------------------------------
    @abstractmethod
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        """Token ids allowed at position ``len(prefix)`` after ``prefix``."""

    def valid_mask(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over the vocabulary for the next position (cached per prefix)."""
        return _mask_cache(self, tuple(int(t) for t in prefix))

    def expected_at(self, prefix: Tokens) -> str:
        """Human-readable list of what is allowed after ``prefix``, for error messages."""
        return ", ".join(self.vocab[t] for t in self.valid_tokens(prefix))

    # ----- conversions ---------------------------------------------------------------------
    @abstractmethod
    def to_tokens(self, arch: Arch) -> Tokens:
        """Token ids of ``arch``."""

    @abstractmethod
    def _arch_from_tokens(self, tokens: Tokens) -> Arch:
        """Build the architecture from tokens already checked against the grammar."""

    @abstractmethod
    def to_string(self, arch: Arch) -> str:
        """Readable, round-trippable form (``from_string(to_string(a)) == a``)."""

    @abstractmethod
    def from_string(self, text: str) -> Arch:
        """Parse :meth:`to_string`'s form; raise :class:`InvalidArchitectureError` naming the
        position on bad input."""

    def from_tokens(self, tokens: Sequence[int]) -> Arch:
        """Validate ``tokens`` against the grammar and build the architecture; an error at a
        position says where that is in the architecture when :meth:`describe_position` can."""
        try:
            return self._checked_arch(tokens)
        except InvalidArchitectureError as err:
            where = None
            if err.position is not None and err.position < self.length:
                where = self.describe_position(err.position)
            if where is None:
                raise
            raise InvalidArchitectureError(f"{err} at {where}", position=err.position,
                                           expected=err.expected) from None

    def describe_position(self, pos: int) -> str | None:
        """Where token ``pos`` is in the architecture (``"normal cell, node 2, op of branch
        1"``), for error messages; ``None``: the token's number says enough."""
        return None

    def _checked_arch(self, tokens: Sequence[int]) -> Arch:
        tokens = tuple(int(t) for t in tokens)
        if len(tokens) != self.length:
            raise InvalidArchitectureError(
                f"{self.name}: expected {self.length} tokens, got {len(tokens)}",
                position=min(len(tokens), self.length),
                expected=f"{self.length} tokens",
            )
        for pos, tok in enumerate(tokens):
            allowed = self.valid_tokens(tokens[:pos])
            if tok not in allowed:
                shown = self.vocab[tok] if 0 <= tok < len(self.vocab) else str(tok)
                raise InvalidArchitectureError(
                    f"{self.name}: token {pos} is {shown!r}; expected one of "
                    f"{self.expected_at(tokens[:pos])}",
                    position=pos,
                    expected=self.expected_at(tokens[:pos]),
                )
        arch = self._arch_from_tokens(tokens)
        self.check(arch)
        return arch

    def check(self, arch: Arch) -> None:  # noqa: B027 - optional hook
        """Hook for whole-architecture rules beyond the per-position grammar (raise
        :class:`InvalidArchitectureError`)."""

    # ----- sampling and neighbours ---------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform choice at each position among valid tokens, retried until :meth:`check`
        passes."""
        for _ in range(1000):
            tokens: list[int] = []
            for _pos in range(self.length):
                choices = self.valid_tokens(tuple(tokens))
                tokens.append(int(choices[rng.integers(len(choices))]))
            try:
                return self.from_tokens(tokens)
            except InvalidArchitectureError:
                continue
        raise RuntimeError(f"{self.name}: could not sample a valid architecture")

    def distinct(self, candidates: Iterable[Arch | None], n: int,
                 exclude: Container[Hashable] = frozenset()) -> list[Arch]:
        """The first ``n`` candidates whose canonical keys are neither in ``exclude`` nor
        repeated (``None``, a failed draw, is skipped): the one "draw until new" of every
        strategy and command. Candidates are pulled lazily and none after the ``n``-th, so a
        generator that samples draws exactly as often as a hand-written loop would."""
        out: list[Arch] = []
        keys: set[Hashable] = set()
        if n <= 0:
            return out
        for arch in candidates:
            if arch is None:
                continue
            key = self.canonical(arch)
            if key in exclude or key in keys:
                continue
            keys.add(key)
            out.append(arch)
            if len(out) >= n:
                break
        return out

    def sample_distinct(self, n: int, rng: np.random.Generator,
                        exclude: Container[Hashable] = frozenset(),
                        max_tries: int = 10000) -> list[Arch]:
        """Up to ``n`` random architectures with new canonical keys, from at most ``max_tries``
        samples (fewer only where the space has few left)."""
        return self.distinct((self.sample(rng) for _ in range(max_tries)), n, exclude)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one decision, keeping the architecture valid.

        A random position gets a different valid token; later positions that the change made
        invalid are re-drawn among their valid tokens.
        """
        tokens = list(self.to_tokens(arch))
        positions = [p for p in range(self.length) if len(self.valid_tokens(tuple(tokens[:p]))) > 1]
        for _ in range(100):
            pos = int(positions[rng.integers(len(positions))])
            options = [t for t in self.valid_tokens(tuple(tokens[:pos])) if t != tokens[pos]]
            new = tokens[:pos] + [int(options[rng.integers(len(options))])]
            for p in range(pos + 1, self.length):
                allowed = self.valid_tokens(tuple(new))
                new.append(tokens[p] if tokens[p] in allowed else int(rng.choice(allowed)))
            try:
                child = self.from_tokens(new)
            except InvalidArchitectureError:
                continue
            if self.canonical(child) != self.canonical(arch):
                return child
        return self.sample(rng)

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: Arch) -> list[CellGraph]:
        """The architecture as DAGs to draw, one per cell (``nao show``)."""
        raise ConfigError(f"{self.name} cannot be drawn: the space defines no graph form")

    # ----- equivalence ---------------------------------------------------------------------
    def canonical(self, arch: Arch) -> Hashable:
        """Key shared by all equivalent architectures (default: the tokens themselves)."""
        return self.to_tokens(arch)

    def symmetries(self, arch: Arch) -> list[Arch]:
        """Architectures equivalent to ``arch`` (``arch`` first), used for NAO's augmentation."""
        return [arch]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Capability(ABC):  # noqa: B024 - a marker: subclasses declare the abstract members
    """Something a space offers beyond its tokens, declared by subclassing (``class
    MySpace(SearchSpace, Tabular)``), so that whether a space has it is ``isinstance``, not a
    probe for attributes (which would also load a lazily read table)."""

    what: ClassVar[str]  # what a space without it has not, for the one-line error


class Tabular(Capability):
    """Recorded validation and test accuracy of every architecture: what a search scored by
    table lookup, ``nao benchmark`` and ``nao predictor-eval`` need."""

    what = "table"

    @property
    @abstractmethod
    def benchmark(self) -> TabularBenchmark:
        """The whole table (ranks, optimum); may be read from disk on first use."""

    @abstractmethod
    def lookup(self, arch: Arch) -> Record:
        """The record of ``arch`` (raise ``UnknownArchitectureError`` when it has none)."""

    @property
    def size(self) -> int:
        """How many distinct architectures the space holds, so a budget or a sample size can be
        checked before any work (default: the table's entries)."""
        return len(self.benchmark)


class Buildable(Capability):
    """Networks to train: one architecture alone (``nao train``) and a supernet holding the
    weights of every architecture (``nao ws``)."""

    what = "networks to build"
    # whether the ``layers`` network option (cells per stage) shapes the networks; False where
    # the depth is the space's own option (``enas-macro:layers=N``), so ``--layers`` is refused
    cell_layers: bool = True
    # the size a search builds each child at when it trains children from scratch (``nao search
    # --data``): channels of the first cells and cells per stage, where the architecture does
    # not fix them; small, since a search trains many children for a few epochs each
    child_channels: int = 8
    child_layers: int = 1
    # whether ``build_supernet`` gives a network (``nao ws``); False for spaces whose children
    # only train from scratch, so ``nao ws`` refuses them before it loads any data
    has_supernet: bool = True
    # whether the supernet also runs a relaxed forward on op weights (a mixed-op path), which
    # the relaxed one-shot methods darts and snas train through; such a space gives the mapping
    # from architecture parameters to those weights by :meth:`relaxation`
    mixed_path: bool = False

    def relaxation(self, params):
        """The map from ``params`` (:class:`pipelines.oneshot.arch_params.ArchParams` of this
        space) to the supernet's op weights: ``op_weights(table)`` and ``derive_top2()``
        (DARTS's derivation). Only where ``mixed_path`` is declared."""
        raise ConfigError(f"space {self.name} has no mixed-op path (mixed_path is False); the "
                          "relaxed methods darts and snas need one")

    @abstractmethod
    def build(self, arch: Arch, channels: int, num_classes: int, layers: int, in_channels: int,
              auxiliary: bool = False, drop_path: float = 0.0, stem_stride: int = 1
              ) -> nn.Module:
        """The network of ``arch`` alone."""

    @abstractmethod
    def build_supernet(self, channels: int, num_classes: int, layers: int, in_channels: int,
                       stem_stride: int = 1) -> nn.Module:
        """One network whose weights every architecture of the space shares."""


class BuildableLM(Capability):
    """Word-level language models to train (a recurrent cell space): one architecture's model
    and a supernet model whose cell holds the weights of every architecture. Apart from
    :class:`Buildable`, whose networks classify images of a given shape. ``dropouts`` overrides
    the space's defaults by name (``None``: the paper's)."""

    what = "language models to build"

    @abstractmethod
    def build_lm(self, arch: Arch, vocab_size: int, hidden_size: int,
                 dropouts: Mapping[str, float] | None = None) -> nn.Module:
        """The language model of ``arch`` alone: ``model(x)`` gives next-word logits."""

    @abstractmethod
    def build_lm_supernet(self, vocab_size: int, hidden_size: int,
                          dropouts: Mapping[str, float] | None = None) -> nn.Module:
        """One language model whose weights every cell shares: ``model(x, arch)``."""


@lru_cache(maxsize=65536)
def _mask_cache(space: SearchSpace, prefix: Tokens) -> np.ndarray:
    mask = np.zeros(len(space.vocab), dtype=bool)
    mask[list(space.valid_tokens(prefix))] = True
    mask.setflags(write=False)
    return mask
