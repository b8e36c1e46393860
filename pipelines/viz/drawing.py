"""Pictures and text of architectures: any :class:`CellGraph` list, whatever its space.

Each DAG is laid out left to right by longest-path depth (inputs in column 0, a node one column
right of its deepest input), nodes drawn as labelled boxes, edges as arrows carrying their op.
One subplot per cell. A *chain*, a graph whose nodes each sit one column right of the node
listed before it (a whole macro network: layer after layer), is one row of boxes whose skip
connections arch above and below it, higher the farther they reach. matplotlib only (Agg
backend), no graphviz.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

from nao.errors import ConfigError
from nao.validation import shown_text
from search_spaces.base import CellGraph

COLUMN_GAP = 3.0  # data units between depth columns
ROW_GAP = 1.4  # data units between nodes of one column
SKIP_BOW = 0.75  # how far (data units) an edge that jumps columns bows out from its chord
PARALLEL_BEND = 0.35  # curvature step between edges joining the same two nodes
CHAIN_BEND = 0.25  # a chain's skip arcs: height a quarter of half their length
INCHES_PER_UNIT = 0.75
TITLE_CHARS_PER_INCH = 11  # wrap the title at about this many characters per inch of figure
COLORS = {"input": "#cfe2f3", "op": "#fff2cc", "output": "#d9ead3"}


def depths(graph: CellGraph) -> dict[str, int]:
    """Longest-path depth of every node (nodes come in topological order)."""
    depth: dict[str, int] = {}
    for node in graph.nodes:
        depth[node.id] = max((depth[e.src] + 1 for e in graph.inputs_of(node.id)), default=0)
    return depth


def is_chain(graph: CellGraph) -> bool:
    """Whether every node sits one column right of the node listed before it (so each is fed
    by that node, and any other input is a skip connection)."""
    depth = depths(graph)
    return [depth[n.id] for n in graph.nodes] == list(range(len(graph.nodes)))


def layout(graph: CellGraph) -> dict[str, tuple[float, float]]:
    """(x, y) of every node: x by depth; within a column, nodes ordered by the mean height of
    their inputs (fewer crossings) and centred on y = 0."""
    depth = depths(graph)
    pos: dict[str, tuple[float, float]] = {}
    for col in range(max(depth.values()) + 1):
        listed = [n.id for n in graph.nodes if depth[n.id] == col]

        def height(node_id: str, listed=listed) -> float:
            ys = [pos[e.src][1] for e in graph.inputs_of(node_id)]
            return sum(ys) / len(ys) if ys else -listed.index(node_id)

        members = sorted(listed, key=height, reverse=True)
        top = (len(members) - 1) * ROW_GAP / 2
        for row, node_id in enumerate(members):
            pos[node_id] = (col * COLUMN_GAP, top - row * ROW_GAP)
    return pos


def describe(graphs: list[CellGraph]) -> str:
    """Text form: per cell, its inputs, then one line per node listing what feeds it, e.g.
    ``node 2 <- 0 (sep_conv_3x3), 1 (identity)``; in a chain, the node before it, then its skip
    connections: ``4 avg <- 3, skips 0, 2``."""
    lines = []
    for graph in graphs:
        inputs = ", ".join(f"{n.id} = {n.label}" for n in graph.nodes if n.kind == "input")
        lines.append(f"{graph.name} (inputs: {inputs}):")
        chain = is_chain(graph)
        for k, node in enumerate(graph.nodes):
            if node.kind == "input":
                continue
            feeds = [e.src + (f" ({e.label})" if e.label else "") for e in graph.inputs_of(node.id)]
            if chain:  # the node before it first, the rest are skips
                before = graph.nodes[k - 1].id
                main = [f for e, f in zip(graph.inputs_of(node.id), feeds, strict=True)
                        if e.src == before]
                skips = [f for e, f in zip(graph.inputs_of(node.id), feeds, strict=True)
                         if e.src != before]
                feeds = main + ([f"skips {', '.join(skips)}"] if skips else [])
            lines.append(f"  {node.label} <- {', '.join(feeds) or '(nothing)'}")
    return "\n".join(lines)


def curves(graph: CellGraph, pos) -> list[tuple[float, tuple[float, float]]]:
    """Per edge, the bend of its arrow (matplotlib's ``arc3`` ``rad``) and the middle of the
    curve, where its label goes. Edges that jump columns bow out by a fixed amount so they miss
    the boxes in between; edges joining the same two nodes fan out. In a chain, a skip arc's
    height grows with its length, odd lengths below the row and even ones above, so arcs from
    one box do not lie on each other."""
    chain = is_chain(graph)
    total = Counter((e.src, e.dst) for e in graph.edges)
    seen: Counter = Counter()
    out = []
    for edge in graph.edges:
        pair = (edge.src, edge.dst)
        span = round((pos[edge.dst][0] - pos[edge.src][0]) / COLUMN_GAP)  # columns jumped
        if chain:
            rad = CHAIN_BEND * (1 if span % 2 else -1) if span > 1 else 0.0
        else:
            rad = SKIP_BOW * 2 / (span * COLUMN_GAP) if span > 1 else 0.0
        rad += (seen[pair] - (total[pair] - 1) / 2) * PARALLEL_BEND
        seen[pair] += 1
        (x1, y1), (x2, y2) = pos[edge.src], pos[edge.dst]
        # arc3's control point is the chord's middle moved rad * chord sideways; the curve's
        # middle is half-way there (exact in data units under the equal aspect used here)
        out.append((rad, ((x1 + x2) / 2 + rad * (y2 - y1) / 2,
                          (y1 + y2) / 2 - rad * (x2 - x1) / 2)))
    return out


def draw(graphs: list[CellGraph], path: str | Path, title: str | None = None) -> Path:
    """Save a picture of ``graphs`` (one subplot each) to ``path``; the format follows the
    suffix (.png, .svg, .pdf, ...). Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    path = Path(path)
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in formats:
        raise ConfigError(f"cannot write {shown_text(path)}: the name must end in a picture "
                          "format such as .png, .svg or .pdf")
    layouts = [layout(g) for g in graphs]
    bends = [curves(g, pos) for g, pos in zip(graphs, layouts, strict=True)]
    spans = []  # (bottom, top) of each subplot: every box and every curve's middle
    for pos, bend in zip(layouts, bends, strict=True):
        ys = [y for _, y in pos.values()] + [y for _, (_, y) in bend]
        spans.append((min(ys) - ROW_GAP / 2, max(ys) + ROW_GAP / 2))
    width = max(max(x for x, _ in pos.values()) for pos in layouts) + COLUMN_GAP
    heights = [top - bottom for bottom, top in spans]
    fig_width = width * INCHES_PER_UNIT
    fig, axes = plt.subplots(
        len(graphs), 1, squeeze=False, gridspec_kw={"height_ratios": heights},
        figsize=(fig_width, sum(heights) * INCHES_PER_UNIT + 0.5 * len(graphs) + 0.5))
    try:
        for ax, graph, pos, bend, (bottom, top) in zip(
                axes[:, 0], graphs, layouts, bends, spans, strict=True):
            boxes = {}
            for node in graph.nodes:
                x, y = pos[node.id]
                boxes[node.id] = ax.text(
                    x, y, node.label, ha="center", va="center", fontsize=9, zorder=3,
                    bbox={"boxstyle": "round,pad=0.4", "fc": COLORS[node.kind], "ec": "0.3"})
            ax.set_title(graph.name, fontsize=11)
            ax.set_xlim(-COLUMN_GAP / 2, width - COLUMN_GAP / 2)
            ax.set_ylim(bottom, top)
            ax.set_aspect("equal")
            ax.axis("off")
            fig.draw_without_rendering()  # places the boxes, so arrows can stop at their edges
            for edge, (rad, (mx, my)) in zip(graph.edges, bend, strict=True):
                ax.add_patch(FancyArrowPatch(
                    pos[edge.src], pos[edge.dst], patchA=boxes[edge.src].get_bbox_patch(),
                    patchB=boxes[edge.dst].get_bbox_patch(), arrowstyle="-|>",
                    mutation_scale=12, connectionstyle=f"arc3,rad={rad}", color="0.35", lw=1,
                    zorder=1))
                if edge.label:
                    ax.text(mx, my, edge.label, ha="center", va="center", fontsize=7, zorder=2,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                  "alpha": 0.85})
        if title:
            fig.suptitle(textwrap.fill(title, int(fig_width * TITLE_CHARS_PER_INCH)), fontsize=9)
        fig.tight_layout()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=150)
        except OSError as exc:
            raise ConfigError(f"cannot write {shown_text(path)}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path
