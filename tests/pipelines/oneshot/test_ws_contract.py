"""Every ``nao ws --controller`` on every weight-sharing space, at tiny sizes, from the command
line: where the method's table entry (pipelines/oneshot/methods.py) says it runs, it runs and
reports a pick of that space with the keys of ``nao ws --json``; where it says it does not, the
refusal is one line, exit 2, naming the controllers that do. A new method or space joins the
matrix by its registration alone."""

from __future__ import annotations

import json

import pytest
from support import assert_one_line_error, run_cli

from pipelines.oneshot import methods
from search_spaces import Buildable, BuildableLM, get_space, offering

IMAGE = ["--data", "standin:1x8x8", "--train-size", "60", "--channels", "4", "--layers", "1",
         "--batch-size", "20"]
TEXT = ["--data", "standin-text", "--train-size", "2000", "--hidden", "8", "--batch-size", "8",
        "--bptt", "10"]
COMMON = ["--epochs", "1", "--device", "cpu", "--threads", "1", "--seed", "0", "--quiet",
          "--json"]
POOL = ["--pool-size", "3"]
# the spaces at their smallest, one name per registered weight-sharing space
SMALL = {"enas-micro": "enas-micro", "enas-macro": "enas-macro:layers=3",
         "enas-rnn": "enas-rnn:nodes=3"}


def ws_spaces() -> list[str]:
    names = [n for n in offering(Buildable) if get_space(n).has_supernet]
    return [SMALL.get(n.partition(":")[0], n) for n in names + offering(BuildableLM)]


def test_the_matrix_covers_every_weight_sharing_space():
    assert sorted(ws_spaces()) == sorted(SMALL.values())


@pytest.mark.slow
@pytest.mark.parametrize("space_name", ws_spaces())
@pytest.mark.parametrize("controller", list(methods.METHODS))
def test_every_controller_runs_on_every_space_its_entry_allows(controller, space_name, capsys):
    space = get_space(space_name)
    text = isinstance(space, BuildableLM)
    method = methods.METHODS[controller]
    task = methods.TEXT if text else methods.IMAGE
    argv = ["ws", "--space", space_name, "--controller", controller, *(TEXT if text else IMAGE),
            *COMMON, *(POOL if method.family == methods.POOL else []),
            *(["--set", "nao_params.epochs=3", "--set", "pretrain_archs=0"]
              if controller == "nao" else [])]
    code, out, err = run_cli(capsys, *argv)
    if task not in method.tasks or method.missing(space):
        assert_one_line_error(code, err)
        assert "use --controller" in err
        return
    assert code == 0, err
    result = json.loads(out)
    assert result["controller"] == controller and result["space"] == space.name
    assert space.to_string(space.from_string(result["best"]["arch"])) == result["best"]["arch"]
    assert len(result["history"]) == 1
