"""Plugins (nao/plugins.py): docs/plugins.md's example package, installed as pip installs it, is
a space and a strategy for every command; a broken plugin is one line naming it and stops
nothing else."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"


def doc_files() -> dict[str, str]:
    """The files docs/plugins.md shows, by name: a bold `name` line, then a fenced block."""
    found = re.findall(r"\*\*`([^`]+)`\*\*[^\n]*\n\n```[a-z]*\n(.*?)```", DOC.read_text(), re.S)
    return dict(found)


def install(site: Path, name: str, entry_points: dict[str, dict[str, str]],
            files: dict[str, str]) -> None:
    """What ``pip install`` leaves in ``site``: the package's files and a .dist-info directory
    with its METADATA and entry_points.txt."""
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in entry_points.items()))


def measured_csv(path: Path) -> Path:
    """A CSV of 'measured' results, as docs/plugins.md describes it: every combination of
    three decisions but two, a score that prefers conv5, width 64 and depth 4."""
    rows = ["op,width,depth,valid,test"]
    for op, width, depth in itertools.product(["conv3", "conv5", "pool"], [16, 32, 64],
                                              [2, 4, 8]):
        if (op, width, depth) in {("pool", 64, 8), ("conv3", 32, 2)}:
            continue  # never measured
        score = 0.7 + 0.05 * (op == "conv5") + 0.0005 * width - 0.01 * abs(depth - 4)
        rows.append(f"{op},{width},{depth},{score:.4f},{score - 0.01:.4f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def project_of(pyproject: str) -> tuple[str, dict[str, dict[str, str]]]:
    """The name and entry points of a pyproject.toml as simple as the example's (tomllib is
    not in Python 3.10)."""
    name = re.search(r'^name = "([^"]+)"$', pyproject, re.M).group(1)
    groups = re.findall(r'^\[project\.entry-points\."([^"]+)"\]\n(.*?)(?:\n\n|\Z)', pyproject,
                        re.M | re.S)
    return name, {group: dict(re.findall(r'^(\S+) = "([^"]+)"$', body, re.M))
                  for group, body in groups}


@pytest.fixture
def example(tmp_path, monkeypatch):
    """docs/plugins.md's package installed on sys.path, and its CSV."""
    files = doc_files()
    name, entry_points = project_of(files["pyproject.toml"])
    site = tmp_path / "site"
    install(site, name, entry_points, {"mytable/__init__.py": files["mytable/__init__.py"]})
    monkeypatch.syspath_prepend(str(site))
    return site, measured_csv(tmp_path / "results.csv")


def test_the_docs_show_every_file_of_the_example():
    files = doc_files()
    # and mygrad.py, the one-shot method (tests/pipelines/oneshot/test_oneshot_plugins.py)
    assert set(files) == {"pyproject.toml", "mytable/__init__.py", "results.csv", "mygrad.py"}
    assert project_of(files["pyproject.toml"]) == ("mytable", {
        "nao.spaces": {"mytable": "mytable:make_space"},
        "nao.strategies": {"local": "mytable:LocalSearch"}})


def test_a_plugin_space_and_strategy_search_from_the_command_line(example, capsys):
    _site, csv = example
    args = ["search", "--space", f"mytable:{csv}", "--strategy", "local", "--set", "n_init=5",
            "--budget", "20", "--seed", "3", "--json", "--quiet"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    archs = [h["arch"] for h in result["history"]]
    assert len(set(archs)) == 20
    assert "op=pool,width=64,depth=8" not in archs  # the validity rule: only measured ones
    assert result["optimum_valid"] == pytest.approx(0.7 + 0.05 + 0.032)
    # the plugin's strategy ran: after 5 random starts, each query changes one decision of the
    # best architecture found before it, while such a measured one is left
    lines = csv.read_text().splitlines()[1:]
    measured = {"op={},width={},depth={}".format(*line.split(",")[:3]) for line in lines}

    def differ(a: str, b: str) -> int:
        return sum(x != y for x, y in zip(a.split(","), b.split(","), strict=True))

    climbs = 0
    for i in range(5, 20):
        best = max(result["history"][:i], key=lambda h: h["valid"])["arch"]
        left = {a for a in measured - set(archs[:i]) if differ(a, best) == 1}
        assert archs[i] in left or not left
        climbs += bool(left)
    assert climbs >= 5
    assert json.loads(run_cli(capsys, *args)[1])["history"] == result["history"]  # seeded


def test_a_plugin_space_needs_its_option_and_says_so_in_one_line(example, capsys):
    code, _out, err = run_cli(capsys, "search", "--space", "mytable", "--budget", "5")
    assert_one_line_error(code, err, "mytable needs the CSV file", command="search")


def test_plugins_are_listed_in_help_and_refused_where_they_lack_a_capability(example, capsys):
    _site, csv = example
    code, out, _err = run_cli(capsys, "search", "--help")
    assert code == 0 and "mytable" in out and "local" in out
    code, _out, err = run_cli(capsys, "show", "--space", f"mytable:{csv}", "--arch",
                              "op=conv3,width=16,depth=2")
    assert_one_line_error(code, err, "cannot be drawn", command="show")


def test_predictor_eval_scores_on_a_plugin_space(example, capsys):
    _site, csv = example
    code, out, err = run_cli(capsys, "predictor-eval", "--space", f"mytable:{csv}",
                             "--train-size", "12", "--test-size", "10", "--json",
                             "--set", "epochs=5")
    assert code == 0, err
    assert json.loads(out)["test_size"] == 10


@pytest.mark.parametrize("jobs", ["2"])
def test_benchmark_workers_in_their_own_processes_find_the_plugin(example, tmp_path, jobs):
    site, csv = example
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "benchmark", "--space",
                           f"mytable:{csv}", "--strategies", "local,random", "--budget", "8",
                           "--seeds", "2", "--workers", jobs, "--json", "--quiet",
                           "--out", str(tmp_path / "bench")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report["results"]) == ["local", "random"]
    assert len(list((tmp_path / "bench" / "runs").glob("*.json"))) == 4


# ----- broken plugins --------------------------------------------------------------------------
BROKEN = '''
from pipelines.strategies import RandomSearch

raise_at_import = False

def crashes(arg):
    raise RuntimeError("the plugin's own bug\\nsecond line")

def wrong_type(arg):
    return 42

class NotAStrategy:
    pass

class CrashingStrategy(RandomSearch):
    def __init__(self, space, random_state=None, speed: int = 1):
        raise ValueError("bad speed")
'''


@pytest.fixture
def broken(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "brokenplugins", {
        "nao.spaces": {"crashes": "brokenmod:crashes", "wrongtype": "brokenmod:wrong_type",
                       "noimport": "no_such_module_anywhere:factory",
                       "nasbench-graph": "brokenmod:crashes"},  # a bundled name: it wins
        "nao.strategies": {"notastrategy": "brokenmod:NotAStrategy",
                           "crashing": "brokenmod:CrashingStrategy",
                           "missing": "brokenmod:NoSuchClass"},
    }, {"brokenmod.py": BROKEN})
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.mark.parametrize(("args", "fragments"), [
    (["--space", "crashes"], ["space plugin crashes = brokenmod:crashes",
                              "package brokenplugins 0.1", "RuntimeError", "own bug"]),
    (["--space", "wrongtype"], ["space plugin wrongtype", "returned int, not a SearchSpace"]),
    (["--space", "noimport"], ["space plugin noimport", "failed to load",
                               "ModuleNotFoundError"]),
    (["--strategy", "notastrategy"], ["strategy plugin notastrategy",
                                      "not a subclass of pipelines.strategies.Strategy"]),
    (["--strategy", "crashing"], ["strategy plugin crashing", "ValueError", "bad speed"]),
    (["--strategy", "missing"], ["strategy plugin missing", "failed to load",
                                 "AttributeError"]),
])
def test_a_broken_plugin_is_one_line_naming_it(broken, capsys, args, fragments):
    code, _out, err = run_cli(capsys, "search", "--budget", "5", *args)
    line = assert_one_line_error(code, err, *fragments, "fix or uninstall", command="search")
    assert "second line" not in line


def test_broken_plugins_stop_nothing_else(broken, capsys):
    code, out, err = run_cli(capsys, "search", "--strategy", "random", "--budget", "5",
                             "--json", "--quiet")  # nasbench-graph: the bundled one wins
    assert code == 0, err
    assert json.loads(out)["space"] == "nasbench-graph:cora"
    # the error that lists the spaces with networks loads every family: the broken are skipped
    code, _out, err = run_cli(capsys, "train", "--space", "nasbench-graph:cora", "--arch", "x")
    line = assert_one_line_error(code, err, "enas-micro", command="train")
    assert "crashes" not in line and "wrongtype" not in line


NETWORKS = '''
from search_spaces.enas_micro import EnasMicroSpace

def make(arg):
    return EnasMicroSpace()
'''


@pytest.mark.slow  # a supernet epoch and a training run; the plugin path itself is tested above
def test_a_plugin_space_with_networks_trains_and_searches_with_shared_weights(tmp_path,
                                                                           monkeypatch, capsys):
    site = tmp_path / "site"
    install(site, "mycells", {"nao.spaces": {"mycells": "mycells:make"}},
            {"mycells.py": NETWORKS})
    monkeypatch.syspath_prepend(str(site))
    tiny = ["--data", "standin:1x8x8", "--channels", "4", "--layers", "1", "--seed", "0",
            "--json", "--quiet"]
    code, out, err = run_cli(capsys, "ws", "--space", "mycells", "--controller", "random",
                             "--epochs", "1", *tiny)
    assert code == 0, err
    arch = json.loads(out)["best"]["arch"]
    code, out, err = run_cli(capsys, "train", "--space", "mycells", "--arch", arch,
                             "--epochs", "1", *tiny)
    assert code == 0, err
    assert 0 <= json.loads(out)["test_accuracy"] <= 1
