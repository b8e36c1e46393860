"""enas-macro through the commands with no space-specific code: ``nao ws`` with each controller,
``nao train`` of a macro pick from scratch, ``nao show`` of one, and a bad op set as one line."""

from __future__ import annotations

import json

import pytest
from support import assert_one_line_error, run_cli

from pipelines.oneshot.weight_sharing import CONTROLLERS
from search_spaces import get_space

SPACE = "enas-macro:layers=3,ops=conv3+sep3+avg+max"
ARCH = "sep3 | conv3 1 | max 0 1"
TINY_DATA = ["--data", "standin:1x8x8", "--channels", "4", "--batch-size", "50",
             "--device", "cpu", "--threads", "1", "--quiet", "--json"]
NAO_FAST = ["--set", "nao_params.epochs=5", "--set", "nao_params.hidden_size=16",
            "--set", "nao_params.embedding_size=8", "--set", "nao_params.mlp_hidden_size=16"]


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_ws_searches_the_macro_space_with_each_controller(controller, capsys):
    extra = NAO_FAST if controller == "nao" else []
    code, out, err = run_cli(capsys, "ws", "--space", SPACE, "--controller", controller, "--epochs",
                                     "1", "--pool-size", "4", *TINY_DATA, *extra)
    assert code == 0, err
    result = json.loads(out)
    space = get_space(SPACE)
    assert result["space"] == space.name
    best = space.from_string(result["best"]["arch"])  # an architecture of the restricted space
    assert {layer.op for layer in best.layers} <= {"conv3", "sep3", "avg", "max"}
    assert len(result["history"]) == 1 and 0.0 <= result["best"]["valid"] <= 1.0


def test_train_trains_a_macro_pick_from_scratch(capsys):
    code, out, err = run_cli(capsys, "train", "--space", SPACE, "--arch", ARCH, "--epochs", "1",
                                     *TINY_DATA)
    assert code == 0, err
    result = json.loads(out)
    child = get_space(SPACE).build(get_space(SPACE).from_string(ARCH), 4, 10, 1, 1)
    assert result["params"] == child.num_params()
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["arch"] == ARCH


def test_show_draws_a_macro_pick_as_a_chain_with_its_skips(tmp_path, capsys):
    picture = tmp_path / "macro.png"
    code, out, err = run_cli(capsys, "show", "--space", SPACE, "--arch", ARCH, "--out",
                             str(picture))
    assert code == 0, err
    assert out.splitlines()[:5] == ["network (inputs: 0 = stem):", "  1 sep3, then /2 <- 0",
                                    "  2 conv3, then /2 <- 1, skips 0",
                                    "  3 max <- 2, skips 1", "  pool, linear <- 3"]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("command", [["ws"], ["train", "--arch", ARCH]])
def test_an_unknown_op_in_the_space_is_one_line_listing_the_ops(command, capsys):
    code, out, err = run_cli(capsys, *command, "--space", "enas-macro:ops=conv3+conv7",
                             *TINY_DATA)
    assert out == ""
    assert_one_line_error(code, err,
                          "unknown op 'conv7'; choose ops from conv3, sep3, conv5, sep5, avg, max")
