"""nao-cnn end to end through the console entry point: a search trains its children from
scratch and stores them, nao train retrains a found cell, and nao ws refuses the space."""

from __future__ import annotations

import json

from support import assert_one_line_error, run_cli

from pipelines.search.store import Store
from search_spaces import get_space

SPACE = "nao-cnn:channels=4"
DATA = ["--data", "standin:1x8x8", "--train-size", "64", "--batch-size", "32"]


def test_a_nao_cnn_search_stores_three_children_trained_from_scratch(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, err = run_cli(capsys, "search", "--space", SPACE, *DATA, "--epochs", "1",
                              "--budget", "3", "--strategy", "random", "--seed", "1", "--json",
                              "--quiet", "--out", str(out))
    assert code == 0, err
    assert json.loads(text)["queries"] == 3
    store = Store(out / Store.FILENAME)
    stored = list(store.evaluations().values())
    store.close()
    assert len(stored) == 3 and len({e.arch for e in stored}) == 3
    assert all(0.0 < e.valid <= 1.0 and 0.0 < e.test <= 1.0 for e in stored)
    space = get_space(SPACE)
    for e in stored:  # each is the 4-channel child of a valid nao-cnn cell
        child = space.build(space.from_string(e.arch), space.child_channels, 10,
                            space.child_layers, 1)
        assert e.info["params"] == sum(p.numel() for p in child.parameters())


def test_nao_train_retrains_a_nao_cnn_cell_at_the_size_asked(capsys):
    space = get_space("nao-cnn")
    arch = space.to_string(space.from_tokens(space.canonical(space.from_string(
        "normal: 0 conv_1x7_7x1 1 max_pool_2x2 | 0 dil_sep_conv_3x3 2 avg_pool_2x2 | 1 conv_3x3 "
        "3 identity | 0 conv_1x3_3x1 4 sep_conv_3x3 | 1 avg_pool_3x3 5 sep_conv_5x5 ; reduce: 0 "
        "max_pool_3x3 1 conv_3x3 | 2 identity 0 avg_pool_2x2 | 1 sep_conv_3x3 3 max_pool_2x2 | 0 "
        "identity 4 conv_1x7_7x1 | 1 dil_sep_conv_3x3 5 identity"))))
    code, text, err = run_cli(capsys, "train", "--space", "nao-cnn", "--arch", arch, "--epochs",
                              "1", "--channels", "4", "--layers", "1", *DATA, "--json", "--quiet")
    assert code == 0, err
    result = json.loads(text)
    child = space.build(space.from_string(arch), 4, 10, 1, 1)
    assert result["params"] == child.num_params() and 0.0 <= result["test_accuracy"] <= 1.0


def test_nao_ws_refuses_nao_cnn_in_one_line(capsys):
    code, out, err = run_cli(capsys, "ws", "--space", "nao-cnn", *DATA)
    assert out == ""
    assert_one_line_error(code, err, "has no supernet")
