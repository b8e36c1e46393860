"""One-shot methods from installed packages (entry point group ``nao.oneshot``): docs/plugins.md's
``mygrad`` package, installed as pip installs it, is a ``nao ws --controller`` on image and text
supernets, its options are ``--set`` keys, and a broken entry is one line naming it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from support import assert_one_line_error, run_cli

from pipelines.oneshot import methods

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "plugins.md"
sys.path.insert(0, str(ROOT / "tests" / "nao"))
from test_plugins import install  # noqa: E402 - the shared installer of the plugin tests

IMAGE = ["--data", "standin:1x8x8", "--train-size", "60", "--channels", "4", "--layers", "1",
         "--batch-size", "20"]
TEXT = ["--space", "enas-rnn:nodes=3", "--data", "standin-text", "--train-size", "2000",
        "--hidden", "8", "--batch-size", "8", "--bptt", "10"]
COMMON = ["--epochs", "1", "--threads", "1", "--quiet", "--json"]


def doc_module() -> str:
    return re.search(r"\*\*`mygrad\.py`\*\*\n\n```python\n(.*?)```", DOC.read_text(),
                     re.S).group(1)


def doc_entry_points() -> dict[str, dict[str, str]]:
    block = re.search(r'```toml\n\[project\.entry-points\."nao\.oneshot"\]\n(.*?)```',
                      DOC.read_text(), re.S).group(1)
    return {"nao.oneshot": dict(re.findall(r'^(\S+) = "([^"]+)"$', block, re.M))}


@pytest.fixture
def mygrad(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "mygrad", doc_entry_points(), {"mygrad.py": doc_module()})
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("mygrad", None)


def test_the_docs_plugin_runs_on_an_image_cell_with_its_own_option(mygrad, capsys):
    assert "rloo" in methods.METHODS and "rloo" in methods.help_text()
    code, out, err = run_cli(capsys, "ws", "--controller", "rloo", "--set", "rloo.samples=3",
                             *IMAGE, *COMMON)
    assert code == 0, err
    result = json.loads(out)
    assert result["controller"] == "rloo" and result["options"]["samples"] == 3
    assert result["pool_size"] is None and 0 < result["entropy"]


def test_the_docs_plugin_runs_on_the_recurrent_cell(mygrad, capsys):
    code, out, err = run_cli(capsys, "ws", "--controller", "rloo", *TEXT, *COMMON)
    assert code == 0, err
    result = json.loads(out)
    assert result["metric"] == "perplexity" and result["best"]["valid_ppl"] > 1.0


def test_a_plugins_bad_option_is_its_own_one_line_message(mygrad, capsys):
    code, _, err = run_cli(capsys, "ws", "--controller", "rloo", "--set", "rloo.samples=1",
                           *IMAGE, *COMMON)
    assert_one_line_error(code, err, "rloo: samples must be an integer of at least 2, got 1")


@pytest.mark.parametrize("value, fragment", [
    ("mygrad:LeaveOneOut", "is not a OneShotMethod named 'rloo'"),  # the class, not an entry
    ("mygrad:NOWHERE", "failed to load"),
])
def test_a_broken_entry_is_one_line_naming_the_plugin(tmp_path, monkeypatch, capsys, value,
                                                      fragment):
    site = tmp_path / "site"
    install(site, "mygrad", {"nao.oneshot": {"rloo": value}}, {"mygrad.py": doc_module()})
    monkeypatch.syspath_prepend(str(site))
    code, _, err = run_cli(capsys, "ws", "--controller", "rloo", *IMAGE, *COMMON)
    sys.modules.pop("mygrad", None)
    assert_one_line_error(code, err, "one-shot method plugin rloo = " + value, fragment)
    code, _, err = run_cli(capsys, "ws", "--controller", "sf", *IMAGE, *COMMON)
    assert code == 0, err  # the other methods keep working
