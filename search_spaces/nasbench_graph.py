"""NAS-Bench-Graph (Qin et al. 2022): a 4-node GNN macro space with a full table per dataset.

Each of the four nodes takes one earlier node (0 is the graph input, ``k`` the output of node
``k``) and applies one op. The benchmark names the wiring by one of nine link patterns; the token
sequence interleaves them per node, ``in_0 op_0 in_1 op_1 in_2 op_2 in_3 op_3``, and the grammar
admits exactly those nine patterns. 9 patterns x 9^4 ops = 59,049 sequences name 26,207
architectures up to isomorphism (the benchmark's own canonical hash); the one with every op
``skip`` is not in the table and is masked out of the grammar, which leaves 26,206.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache, cached_property
from itertools import product
from pathlib import Path
from typing import NamedTuple

from nao.errors import ConfigError, InvalidArchitectureError, UnknownArchitectureError
from nao.validation import shown

from .base import CellGraph, GraphEdge, GraphNode, SearchSpace, Tabular, Tokens
from .tabular import Record, TabularBenchmark, load_pickle_table

LINK_PATTERNS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
OPS_PROTEINS = ("gcn", "sage", "arma", "fc", "skip")
DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
N_NODES = 4


class GraphArch(NamedTuple):
    """``links[i]`` is node ``i``'s input (0 = graph input, k = node k); ``ops[i]`` its op."""

    links: tuple[int, ...]
    ops: tuple[str, ...]


class NasBenchGraphSpace(SearchSpace, Tabular):
    """``nasbench-graph:<dataset>``; the table is loaded on first use."""

    def __init__(self, dataset: str = "cora"):
        if dataset not in DATASETS:
            raise ConfigError(
                f"unknown NAS-Bench-Graph dataset {shown(dataset)}; choose one of {', '.join(DATASETS)}"
            )
        self.dataset = dataset
        self.name = f"nasbench-graph:{dataset}"
        self.ops = OPS_PROTEINS if dataset == "proteins" else OPS
        self.vocab = tuple(f"in{k}" for k in range(N_NODES)) + self.ops
        self.length = 2 * N_NODES
        self._op_ids = tuple(range(N_NODES, N_NODES + len(self.ops)))
        self._skip = self.vocab.index("skip")

    # ----- grammar -------------------------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        pos = len(prefix)
        if pos >= self.length:
            return ()
        if pos % 2 == 0:  # an input choice: whatever continues one of the nine patterns
            links = prefix[0::2]
            return tuple(
                sorted({p[pos // 2] for p in LINK_PATTERNS if p[: len(links)] == links})
            )
        if pos == self.length - 1 and all(t == self._skip for t in prefix[1::2]):
            return tuple(t for t in self._op_ids if t != self._skip)  # all-skip is not a network
        return self._op_ids

    # ----- conversions ---------------------------------------------------------------------
    def to_tokens(self, arch: GraphArch) -> Tokens:
        out: list[int] = []
        for node, (link, op) in enumerate(zip(arch.links, arch.ops, strict=True)):
            if op not in self.ops:
                raise InvalidArchitectureError(
                    f"{self.name}: node {node} op is {shown(op)}; expected one of "
                    f"{', '.join(self.ops)}",
                    position=2 * node + 1, expected=", ".join(self.ops))
            out += [int(link), self.vocab.index(op)]
        return tuple(out)

    def _arch_from_tokens(self, tokens: Tokens) -> GraphArch:
        return GraphArch(tuple(tokens[0::2]), tuple(self.vocab[t] for t in tokens[1::2]))

    def to_string(self, arch: GraphArch) -> str:
        return ",".join(map(str, arch.links)) + ":" + ",".join(arch.ops)

    def from_string(self, text: str) -> GraphArch:
        form = "LINKS:OPS, e.g. 0,0,1,2:gcn,gat,sage,skip"
        if not isinstance(text, str) or text.count(":") != 1:
            raise InvalidArchitectureError(
                f"{self.name}: {shown(text)} is not of the form {form}", position=None,
                expected=form
            )
        links_s, ops_s = (part.split(",") for part in text.strip().split(":"))
        if len(links_s) != N_NODES or len(ops_s) != N_NODES:
            raise InvalidArchitectureError(
                f"{self.name}: {shown(text)} needs {N_NODES} links and {N_NODES} ops ({form})",
                position=None,
                expected=form,
            )
        tokens: list[int] = []
        for node, (link_s, op_s) in enumerate(zip(links_s, ops_s, strict=True)):
            link_s, op_s = link_s.strip(), op_s.strip()
            allowed_links = [self.vocab[t][2:] for t in self.valid_tokens(tuple(tokens))]
            if link_s not in allowed_links:
                raise InvalidArchitectureError(
                    f"{self.name}: node {node} input is {shown(link_s)}; after links "
                    f"{','.join(links_s[:node]) or '(none)'} expected one of "
                    f"{', '.join(allowed_links)} (the benchmark's nine link patterns)",
                    position=2 * node,
                    expected=", ".join(allowed_links),
                )
            tokens.append(int(link_s))
            allowed_ops = [self.vocab[t] for t in self.valid_tokens(tuple(tokens))]
            if op_s not in allowed_ops:
                raise InvalidArchitectureError(
                    f"{self.name}: node {node} op is {shown(op_s)}; expected one of "
                    f"{', '.join(allowed_ops)}",
                    position=2 * node + 1,
                    expected=", ".join(allowed_ops),
                )
            tokens.append(self.vocab.index(op_s))
        return self._arch_from_tokens(tuple(tokens))

    # ----- pictures ------------------------------------------------------------------------
    def graph(self, arch: GraphArch) -> list[CellGraph]:
        """Input ``0``, layers ``1..4`` (layer ``i + 1`` reads ``links[i]`` and applies
        ``ops[i]``), and the output fed by every layer no other layer reads (the benchmark's
        leaf nodes)."""
        self.to_tokens(arch)  # a foreign op is an error here too
        nodes = [GraphNode("0", "input", "input")]
        nodes += [GraphNode(str(i + 1), f"node {i + 1} ({op})", "op")
                  for i, op in enumerate(arch.ops)]
        edges = [GraphEdge(str(link), str(i + 1)) for i, link in enumerate(arch.links)]
        leaves = [k for k in range(1, N_NODES + 1) if k not in arch.links]
        nodes.append(GraphNode("out", "output", "output"))
        edges += [GraphEdge(str(k), "out") for k in leaves]
        return [CellGraph("network", tuple(nodes), tuple(edges))]

    # ----- equivalence ---------------------------------------------------------------------
    def canonical(self, arch: GraphArch) -> int:
        """The benchmark's own key: isomorphic architectures share it."""
        return _benchmark_hash(arch.links, arch.ops)

    def symmetries(self, arch: GraphArch) -> list[GraphArch]:
        key = self.canonical(arch)
        return [arch] + [a for a in self._groups.get(key, ()) if a != arch]

    @cached_property
    def _groups(self) -> dict[int, tuple[GraphArch, ...]]:
        """Every token sequence of the grammar grouped by canonical key."""
        groups: dict[int, list[GraphArch]] = defaultdict(list)
        for links in LINK_PATTERNS:
            for ops in product(self.ops, repeat=N_NODES):
                if all(op == "skip" for op in ops):
                    continue
                groups[_benchmark_hash(links, ops)].append(GraphArch(links, ops))
        return {k: tuple(v) for k, v in groups.items()}

    def all_architectures(self) -> list[GraphArch]:
        """One representative (the first token sequence) per architecture."""
        return [group[0] for group in self._groups.values()]

    # ----- the table -----------------------------------------------------------------------
    @cached_property
    def benchmark(self) -> TabularBenchmark:
        raw = load_pickle_table(_table_path(self.dataset))
        records = {
            int(k): Record(valid=float(v["valid_perf"]), test=float(v["perf"]))
            for k, v in raw.items()
        }
        return TabularBenchmark(records, name=self.name)

    @property
    def size(self) -> int:
        """How many distinct architectures the space holds: one table entry each (26,206), so
        a budget or a sample size can be checked against it before any work."""
        return len(self.benchmark)

    def lookup(self, arch: GraphArch) -> Record:
        """Recorded accuracies; an architecture missing from the table is an error."""
        record = self.benchmark.get(self.canonical(arch))
        if record is None:
            raise UnknownArchitectureError(
                f"{self.name}: {self.to_string(arch)} is not in the NAS-Bench-Graph table"
            )
        return record


@cache
def _benchmark_hash(links: tuple[int, ...], ops: tuple[str, ...]) -> int:
    from nas_bench_graph.architecture import Arch as _BenchArch

    return int(_BenchArch(list(links), list(ops)).valid_hash())


def _table_path(dataset: str) -> Path:
    import nas_bench_graph

    return Path(nas_bench_graph.__file__).parent / "light" / f"{dataset}.bench"
