from __future__ import annotations

import pickle

import numpy as np
import pytest

from nao.errors import (
    ConfigError,
    DataError,
    InvalidArchitectureError,
    UnknownArchitectureError,
)
from search_spaces import get_space
from search_spaces.nasbench_graph import LINK_PATTERNS, GraphArch
from search_spaces.tabular import Record, TabularBenchmark, load_pickle_table


def all_token_sequences(space, prefix=()):
    if len(prefix) == space.length:
        yield prefix
        return
    for tok in space.valid_tokens(prefix):
        yield from all_token_sequences(space, prefix + (tok,))


def test_grammar_admits_exactly_the_nine_link_patterns_and_no_all_skip(cora):
    seqs = list(all_token_sequences(cora))
    assert len(seqs) == 9 * 9**4 - 9  # 59,049 sequences less the nine all-skip ones
    links = {s[0::2] for s in seqs}
    assert links == set(LINK_PATTERNS)
    assert not any(all(cora.vocab[t] == "skip" for t in s[1::2]) for s in seqs)


def test_canonical_keys_name_exactly_the_table(cora):
    keys = {cora.canonical(a) for a in cora.all_architectures()}
    assert len(keys) == 26206
    assert keys == set(cora.benchmark.records)


def test_proteins_has_its_own_five_ops_and_table():
    space = get_space("nasbench-graph:proteins")
    assert space.ops == ("gcn", "sage", "arma", "fc", "skip")
    assert {space.canonical(a) for a in space.all_architectures()} == set(space.benchmark.records)
    assert len(space.benchmark) == 2021


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("0,0,2,0:gcn,gcn,gcn,gcn", 4),  # node 2 may not take node 2 after links 0,0
        ("0,0,1,2:gcn,gat,bogus,gcn", 5),
        ("1,0,1,2:gcn,gat,gin,gcn", 0),
        ("0,0,1,2:skip,skip,skip,skip", 7),
    ],
)
def test_bad_strings_name_the_position(cora, text, position):
    with pytest.raises(InvalidArchitectureError) as info:
        cora.from_string(text)
    assert info.value.position == position
    assert "expected" in str(info.value)


@pytest.mark.parametrize("text", ["", "gcn", "0,0,1:gcn,gcn,gcn", "0,0,1,2:gcn,gcn:gcn"])
def test_malformed_strings_are_rejected(cora, text):
    with pytest.raises(InvalidArchitectureError, match="LINKS:OPS"):
        cora.from_string(text)


def test_bad_tokens_name_the_position(cora):
    tokens = list(cora.to_tokens(cora.from_string("0,0,1,2:gcn,gat,gin,sage")))
    tokens[3] = 0  # an input token where an op belongs
    with pytest.raises(InvalidArchitectureError) as info:
        cora.from_tokens(tokens)
    assert info.value.position == 3
    with pytest.raises(InvalidArchitectureError):
        cora.from_tokens(tokens[:5])


def test_isomorphic_architectures_share_a_key(cora):
    a = cora.from_string("0,0,0,0:gcn,gat,sage,gin")
    b = cora.from_string("0,0,0,0:gin,sage,gat,gcn")  # four parallel branches, reordered
    c = cora.from_string("0,0,0,0:gin,sage,gat,fc")
    assert cora.canonical(a) == cora.canonical(b) != cora.canonical(c)


def test_symmetries_list_the_reordered_parallel_layers(cora):
    """(What every space's symmetries keep: tests/search_spaces/test_space_contract.py.)"""
    arch = cora.from_string("0,0,0,0:gcn,gat,sage,gin")
    variants = cora.symmetries(arch)
    assert cora.from_string("0,0,0,0:gin,sage,gat,gcn") in variants
    assert len(variants) == 24  # four different ops on four parallel layers: 4! orders


@pytest.mark.parametrize("links, ops", [
    ((0, 1, 2, 3), ("gcn", "gcn", "gcn", "gcn")),  # recorded validation above test
    ((0, 0, 1, 2), ("gat", "sage", "gin", "gcn")),  # recorded test above validation
])
def test_lookup_returns_recorded_accuracies(cora, links, ops):
    """The record is the raw table entry, read by nas_bench_graph's own reader and hash:
    validation from ``valid_perf``, test from ``perf`` (so a swap of the two fails)."""
    from nas_bench_graph.architecture import Arch as BenchArch
    from nas_bench_graph.readbench import light_read  # the package's own file, a trusted pickle

    raw = light_read("cora")[BenchArch(list(links), list(ops)).valid_hash()]
    assert raw["valid_perf"] != raw["perf"]  # the fields can be told apart
    arch = GraphArch(links, ops)
    record = cora.lookup(arch)
    assert (record.valid, record.test) == (raw["valid_perf"], raw["perf"])
    assert record == cora.lookup(cora.symmetries(arch)[-1])


def test_missing_architecture_is_an_error_that_says_so(cora, monkeypatch):
    arch = cora.from_string("0,1,2,3:gcn,gcn,gcn,gcn")
    partial = TabularBenchmark({0: Record(0.5, 0.5)}, name="partial")
    space = get_space("nasbench-graph:cora")
    monkeypatch.setitem(space.__dict__, "benchmark", partial)
    with pytest.raises(UnknownArchitectureError, match="not in the NAS-Bench-Graph table"):
        space.lookup(arch)


def test_ranks_count_strictly_better_entries_and_ties_share():
    table = TabularBenchmark({i: Record(v, v) for i, v in enumerate([0.9, 0.8, 0.8, 0.7])})
    assert [table.valid_rank(v) for v in (0.9, 0.8, 0.7, 0.95)] == [1, 2, 4, 1]
    assert table.optimum_valid == 0.9


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_table_loader_refuses_code(tmp_path, capsys):
    path = tmp_path / "evil.bench"
    path.write_bytes(pickle.dumps({0: _Evil()}))
    with pytest.raises(DataError, match="refusing to load"):
        load_pickle_table(path)
    assert "pwned" not in capsys.readouterr().out


def test_table_loader_reads_numpy_scalars(tmp_path):
    path = tmp_path / "ok.bench"
    path.write_bytes(pickle.dumps({7: {"valid_perf": np.float64(0.5), "perf": 0.25}}))
    assert load_pickle_table(path) == {7: {"valid_perf": 0.5, "perf": 0.25}}


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        get_space("nasbench-graph:imagenet")


@pytest.mark.parametrize("bad", ["", " cora", "Cora", "cora=1", "dataset=cora", "cora,x", "1",
                                 "-1", "9" * 5000])
def test_a_bad_dataset_option_is_a_one_line_config_error(bad):
    with pytest.raises(ConfigError, match="choose one of cora, citeseer") as info:
        get_space(f"nasbench-graph:{bad}")
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_sample_covers_every_op(cora):
    rng = np.random.default_rng(3)
    ops = {op for _ in range(300) for op in cora.sample(rng).ops}
    assert ops == set(cora.ops)


# ----- pictures ----------------------------------------------------------------------------
def test_graph_wires_the_link_pattern_and_feeds_the_leaves_to_the_output(cora):
    (graph,) = cora.graph(cora.from_string("0,1,1,2:gcn,gat,sage,skip"))
    assert [(n.id, n.kind) for n in graph.nodes] == [
        ("0", "input"), ("1", "op"), ("2", "op"), ("3", "op"), ("4", "op"), ("out", "output")]
    assert {(e.src, e.dst) for e in graph.edges} == {
        ("0", "1"), ("1", "2"), ("1", "3"), ("2", "4"), ("3", "out"), ("4", "out")}
    assert all(e.label is None for e in graph.edges)  # the op is the node's, not the wire's
    assert [graph.node(k).label for k in "1234"] == [
        "node 1 (gcn)", "node 2 (gat)", "node 3 (sage)", "node 4 (skip)"]


@pytest.mark.parametrize("links", LINK_PATTERNS)
def test_graph_output_takes_exactly_the_layers_nobody_reads(cora, links):
    (graph,) = cora.graph(GraphArch(links, ("gcn",) * 4))
    for layer, link in enumerate(links, start=1):
        assert [e.src for e in graph.inputs_of(str(layer))] == [str(link)]
    leaves = [str(k) for k in range(1, 5) if k not in links]
    assert [e.src for e in graph.inputs_of("out")] == leaves


def test_test_ranks_and_membership_read_the_test_column_by_key():
    table = TabularBenchmark({"a": Record(0.9, 0.6), "b": Record(0.8, 0.7)}, name="pair")
    assert table.name == "pair"
    assert "a" in table and "c" not in table and len(table) == 2
    assert [table.test_rank(v) for v in (0.7, 0.6, 0.9)] == [1, 2, 1]
    assert (table.optimum_valid, table.optimum_test) == (0.9, 0.7)


def test_an_empty_table_is_an_error_that_names_it():
    with pytest.raises(DataError, match="^table: the table is empty"):
        TabularBenchmark({})
    with pytest.raises(DataError, match="^cora: "):
        TabularBenchmark({}, name="cora")


def test_a_missing_table_file_says_to_reinstall(tmp_path):
    with pytest.raises(DataError, match="not found at .*reinstall nas-bench-graph"):
        load_pickle_table(tmp_path / "missing.bench")
