"""Layout and text form of drawn architectures (pictures themselves: tests/pipelines/commands/test_show)."""

from __future__ import annotations

from pipelines.viz.drawing import curves, depths, describe, is_chain, layout
from search_spaces import get_space


def test_each_node_sits_one_column_right_of_its_deepest_input(cora):
    (graph,) = cora.graph(cora.from_string("0,0,1,3:gcn,gat,sage,fc"))
    assert depths(graph) == {"0": 0, "1": 1, "2": 1, "3": 2, "4": 3, "out": 4}
    pos = layout(graph)
    assert pos["1"][0] == pos["2"][0] < pos["3"][0] < pos["4"][0] < pos["out"][0]
    assert pos["1"][1] != pos["2"][1]  # one column, two rows


def test_two_edges_between_the_same_nodes_bend_apart():
    space = get_space("enas-micro")
    cell = "0 sep_conv_3x3 0 max_pool_3x3 | " + " | ".join(["1 identity 1 identity"] * 4)
    normal, _ = space.graph(space.from_string(f"normal: {cell} ; reduce: {cell}"))
    rads = [rad for edge, (rad, _) in zip(normal.edges, curves(normal, layout(normal)), strict=True)
            if (edge.src, edge.dst) == ("0", "2")]
    assert len(rads) == 2 and rads[0] == -rads[1] != 0


def test_describe_lists_what_feeds_each_node(cora):
    text = describe(cora.graph(cora.from_string("0,1,1,2:gcn,gat,sage,skip")))
    assert text.splitlines() == [
        "network (inputs: 0 = input):",
        "  node 1 (gcn) <- 0",
        "  node 2 (gat) <- 1",
        "  node 3 (sage) <- 1",
        "  node 4 (skip) <- 2",
        "  output <- 3, 4",
    ]


def test_a_macro_network_is_a_chain_in_one_row_with_skip_arcs_higher_the_farther_they_reach():
    space = get_space("enas-macro:layers=5")
    (graph,) = space.graph(space.from_string("conv3 | sep5 1 | max 0 1 | avg 1 0 1 | max 1 1 1 1"))
    assert is_chain(graph)
    pos = layout(graph)
    assert {y for _, y in pos.values()} == {0.0}
    bend = {(e.src, e.dst): (rad, middle[1])
            for e, (rad, middle) in zip(graph.edges, curves(graph, pos), strict=True)}
    assert bend[("4", "5")] == (0.0, 0.0)  # the chain itself is straight
    heights = [abs(bend[(str(i), "5")][1]) for i in (3, 2, 1, 0)]  # spans 2, 3, 4, 5
    assert heights == sorted(heights) and heights[0] > 0
    assert bend[("3", "5")][0] * bend[("2", "5")][0] < 0  # neighbouring spans on both sides


def test_a_cell_with_two_inputs_is_not_a_chain():
    space = get_space("enas-micro")
    cell = " | ".join(["0 sep_conv_3x3 1 identity"] * 5)
    normal, _ = space.graph(space.from_string(f"normal: {cell} ; reduce: {cell}"))
    assert not is_chain(normal)
