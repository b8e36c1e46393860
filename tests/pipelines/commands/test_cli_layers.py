"""`--layers` (cells per stage) where a space's depth is its own option (enas-macro, nas-rl):
one line naming the space option to use, before any data loads or run directory is made;
cell spaces still take it."""

from __future__ import annotations

import pytest

from pipelines.cli import main
from search_spaces import get_space


@pytest.mark.parametrize(("argv", "space"), [
    (["ws", "--space", "enas-macro", "--layers", "3"], "enas-macro"),
    (["ws", "--space", "enas-macro:layers=4", "--layers", "3", "--controller", "sf"],
     "enas-macro"),
    (["train", "--space", "nas-rl:layers=2", "--arch", "x", "--layers", "3"], "nas-rl"),
    (["train", "--space", "enas-macro", "--arch", "x", "--layers", "3"], "enas-macro"),
    (["train", "--space", "nas-rl", "--arch", "x", "--layers", "5"], "nas-rl"),
])
def test_layers_on_a_space_with_its_own_depth_is_refused_in_one_line(argv, space, capsys,
                                                                     tmp_path):
    out = tmp_path / "run"
    code = main([*argv, "--data", "standin:1x8x8", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"--space {space}:layers=" in err and "no cells per stage" in err
    assert not out.exists()


def test_cell_spaces_use_layers_and_depth_spaces_say_they_do_not():
    assert get_space("enas-micro").cell_layers and get_space("nao-cnn").cell_layers
    assert not get_space("enas-macro").cell_layers and not get_space("nas-rl").cell_layers
