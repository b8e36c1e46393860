"""`nao show` through the console entry point: the picture, the JSON, the text, the errors."""

from __future__ import annotations

import json

import pytest
from support import run_cli

from pipelines.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRAPH_ARCH = "0,1,1,2:gcn,gat,sage,skip"
CELL = "0 sep_conv_3x3 1 identity | 2 avg_pool_3x3 0 sep_conv_5x5 | 3 max_pool_3x3 1 identity | " \
       "2 identity 4 identity | 5 sep_conv_3x3 3 avg_pool_3x3"
MICRO_ARCH = f"normal: {CELL} ; reduce: {CELL}"


def test_json_gives_the_path_of_the_png_written(tmp_path, capsys):
    target = tmp_path / "pics" / "cora.png"  # a missing folder is made
    code, out, _ = run_cli(capsys, "show", "--arch", "0, 1,1,2:gcn, gat,sage,skip", "--out",
                                   str(target), "--json")
    assert code == 0
    result = json.loads(out)
    assert result == {"space": "nasbench-graph:cora", "arch": GRAPH_ARCH,  # canonical form
                      "path": str(target.resolve())}
    assert target.read_bytes()[:8] == PNG_MAGIC


def test_default_picture_is_named_after_the_space_in_the_current_directory(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "show", "--space", "enas-micro", "--arch", MICRO_ARCH)
    assert code == 0
    picture = tmp_path / "enas-micro-arch.png"
    assert picture.read_bytes()[:8] == PNG_MAGIC
    assert out.splitlines()[-1] == f"wrote {picture.resolve()}"


def test_summary_lists_what_feeds_each_node_of_each_cell(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "show", "--space", "enas-micro", "--arch", MICRO_ARCH,
                                   "--out", str(tmp_path / "cell.png"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "normal (inputs: 0 = c_{k-2}, 1 = c_{k-1}):"
    assert "  node 2 <- 0 (sep_conv_3x3), 1 (identity)" in lines
    assert "  node 6 <- 5 (sep_conv_3x3), 3 (avg_pool_3x3)" in lines
    assert lines.count("  concat <- 6") == 2  # nodes 2..5 all feed later nodes
    assert "reduce (inputs: 0 = c_{k-2}, 1 = c_{k-1}):" in lines


def test_nasbench_graph_summary_ends_in_the_leaves(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "show", "--space", "nasbench-graph:citeseer", "--arch",
                                   "0,0,1,3:gcn,gat,sage,fc", "--out", str(tmp_path / "g.png"))
    assert code == 0
    assert "  node 4 (fc) <- 3" in out.splitlines()
    assert "  output <- 2, 4" in out.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "0,0,2,0:gcn,gcn,gcn,gcn"], "node 2 input is '2'"),
        (["--arch", "0,1,2,3:gcn,gcn,conv,gcn"], "node 2 op is 'conv'"),
        (["--space", "enas-micro", "--arch", MICRO_ARCH.replace("2 avg_pool_3x3", "2 avg_pool")],
         "token 5 (normal cell, node 1, op_a)"),
        (["--space", "enas-micro", "--arch", f"normal: {CELL}"], "expected 2"),
        (["--space", "bogus", "--arch", "x"], "unknown search space"),
        (["--arch", GRAPH_ARCH, "--out", "arch.bmpx"], "picture format"),
        ([], "required: --arch"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["show", *args]))
    assert info.value.code == 2
    out = capsys.readouterr()
    assert message in out.err
    assert len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err
    assert out.out == ""
    assert list(tmp_path.iterdir()) == []
