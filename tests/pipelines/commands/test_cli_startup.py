"""A command line that answers at once: building the parser, ``--version``, every ``--help`` and
the one-line refusals that need no data import neither torch, scipy, scikit-learn nor
matplotlib (seconds of imports), and ``--help`` not even the commands' own modules. Pinned by
what a fresh interpreter has imported, not by timing (benchmarks/cli_startup.py times it).

The parsers show some defaults whose own modules import torch; their copies in
:mod:`pipelines.commands.parsers.defaults` are pinned to those modules here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "scipy", "sklearn", "matplotlib")
# a fresh interpreter runs each argv through main() in turn and says, after each, the exit code,
# stderr, and which heavy modules and command modules (pipelines.commands.X, not the parsers)
# are imported by then
PROBE = r"""
import contextlib, io, json, sys
from pipelines.cli import build_parser, main

HEAVY, cases = json.loads(sys.argv[1]), json.loads(sys.argv[2])
parser = build_parser()
for argv in (["search"], ["predictor-eval"], ["benchmark"], ["ws"], ["train", "--arch", "x"],
             ["show", "--arch", "x"]):
    parser.parse_args(argv)


def loaded():
    return {"heavy": [m for m in HEAVY if m in sys.modules],
            "commands": sorted(m for m in sys.modules if m.startswith("pipelines.commands.")
                               and m.split(".")[2] not in ("parsers", "common"))}


report = [{"argv": ["(build the parser, parse each command's arguments)"], "code": 0,
           "stderr": "", **loaded()}]
for argv in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    report.append({"argv": argv, "code": code, "stderr": err.getvalue(), **loaded()})
print(json.dumps(report))
"""


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return list(sub.choices)


# (argv, what the one line says): refusals that need neither torch nor a table
REFUSALS = [
    (["search", "--strategy", "bayes"], "invalid choice: 'bayes'"),
    (["search", "--budget", "0"], "'0' must be at least 1"),
    (["search", "--space", "bogus"], "unknown search space 'bogus'"),
    (["search", "--space", "nasbench-graph:mnist"], "unknown NAS-Bench-Graph dataset 'mnist'"),
    (["search", "--space", "nasbench-graph:"], "needs a dataset after ':'"),
    (["search", "--space", "enas-macro:layers=x"], "enas-macro"),
    (["search", "--space", "nao-cnn:nodes=0"], "nao-cnn"),
    (["search", "--set", "bogus=1"], "strategy 'nao' has no option bogus"),
    (["search", "--set", "nao_params.epoch=5"], "nao_params has no option epoch"),
    (["search", "--set", "top_k=abc"], "top_k must be a whole number >= 1, got 'abc'"),
    (["search", "--set", "=1"], "expected KEY=VALUE"),
    (["search", "--preset", "paper", "--strategy", "random"], "--preset applies to the nao"),
    (["search", "--space", "nas-rl", "--set", "bogus=1"], "has no option bogus"),
    (["search", "--resume"], "--resume"),
    (["search", "--out", "/proc/nao-run"], "cannot write there"),  # after the table loads
    (["predictor-eval", "--set", "bogus=1"], "the NAO estimator has no option bogus"),
    (["predictor-eval", "--set", "epochs=-1"], "epochs must be a whole number >= 1, got -1"),
    (["benchmark", "--strategies", "nao,bayes"], "bayes"),
    (["benchmark", "--set", "nao.bogus=1"], "strategy 'nao' has no option bogus"),
    (["ws", "--controller", "bayes"], "invalid choice: 'bayes'"),
    (["ws", "--space", "enas-macro", "--layers", "3"], "enas-macro has no cells per stage"),
    (["ws", "--space", "bogus"], "unknown search space 'bogus'"),
    (["train", "--arch", "bogus"], "enas-micro"),
    (["train", "--space", "nasbench-graph:cora", "--arch", "x"], "which nao train needs"),
    (["train", "--space", "enas-macro", "--layers", "3", "--arch", "x"], "no cells per stage"),
    (["show", "--arch", "0,1,9,2:gcn,gat,gcn,gat"], "node 2 input is '9'"),
]


def probe(cases: list[list[str]]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(cases)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def answers() -> dict[str, dict]:
    cases = [["--version"], *([name, "--help"] for name in commands()),
             *(argv for argv, _ in REFUSALS)]
    return {" ".join(entry["argv"]): entry for entry in probe(cases)}


def test_building_the_parser_and_parsing_every_command_imports_nothing_heavy(answers):
    first = next(iter(answers.values()))
    assert first["heavy"] == [] and first["commands"] == []


@pytest.mark.parametrize("argv", [["--version"], *([name, "--help"] for name in commands())],
                         ids=" ".join)
def test_version_and_every_help_import_nothing_heavy_nor_a_command_module(answers, argv):
    answer = answers[" ".join(argv)]
    assert answer["code"] == 0, answer["stderr"]
    assert answer["heavy"] == [], f"nao {' '.join(argv)} imported {answer['heavy']}"
    assert answer["commands"] == [], f"nao {' '.join(argv)} imported {answer['commands']}"


@pytest.mark.parametrize(("argv", "says"), REFUSALS, ids=[" ".join(a) for a, _ in REFUSALS])
def test_a_refusal_that_needs_no_data_is_one_line_before_anything_heavy_is_imported(answers, argv,
                                                                                     says):
    answer = answers[" ".join(argv)]
    lines = answer["stderr"].strip().splitlines()
    assert answer["code"] == 2 and len(lines) == 1, answer["stderr"]
    assert lines[0].startswith(f"nao {argv[0]}") and says in lines[0], lines[0]
    assert answer["heavy"] == [], f"nao {' '.join(argv)} imported {answer['heavy']}"


def test_the_probe_sees_what_a_command_that_runs_imports():
    answer = probe([["predictor-eval", "--train-size", "2", "--test-size", "2", "--set",
                     "epochs=1", "--quiet"]])[-1]
    assert answer["code"] == 0, answer["stderr"]
    assert "torch" in answer["heavy"]  # NAO's networks
    assert "pipelines.commands.predictor_eval" in answer["commands"]


def test_the_parsers_copies_of_defaults_are_the_values_of_the_modules_that_own_them():
    from pipelines.commands.parsers import defaults
    from pipelines.oneshot import lm_weight_sharing, weight_sharing
    from pipelines.search.train_evaluator import ChildTraining
    from pipelines.training import data, final, lm_train, runtime, task
    from search_spaces import enas_micro_net

    assert defaults.IMAGE_DATASETS == data.DATASETS
    assert defaults.DEVICES == runtime.DEVICES
    assert defaults.STEM_STRIDES == enas_micro_net.STEM_STRIDES
    child = ChildTraining()
    assert (defaults.CHILD_EPOCHS, defaults.CHILD_BATCH_SIZE, defaults.CHILD_LR) == (
        child.epochs, child.batch_size, child.lr)
    assert defaults.WS_NETWORK == weight_sharing.NETWORK
    assert defaults.POOL_SIZE == weight_sharing.POOL_SIZE
    assert defaults.NAO_ROUNDS == weight_sharing.NAO_ROUNDS
    assert defaults.TRAIN_NETWORK == final.NETWORK
    assert (defaults.TRAIN_LR, defaults.DROP_PATH, defaults.AUXILIARY_WEIGHT) == (
        final.LR, final.DROP_PATH, final.AUXILIARY_WEIGHT)
    assert (defaults.LM_HIDDEN, defaults.BPTT, defaults.LM_LR) == (
        lm_weight_sharing.HIDDEN, task.BPTT, lm_train.LR)
