"""The commands scored by a table share one default space, search_spaces.DEFAULT_SPACE."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipelines
from pipelines.cli import build_parser
from search_spaces import DEFAULT_SPACE


@pytest.mark.parametrize("argv", [["search"], ["benchmark"], ["predictor-eval"],
                                  ["show", "--arch", "x"]])
def test_a_table_command_without_space_uses_the_one_default(argv):
    assert build_parser().parse_args(argv).space == DEFAULT_SPACE


def test_no_module_of_pipelines_repeats_the_default_space_name():
    root = Path(pipelines.__file__).parent
    repeats = [f"{path.relative_to(root)}:{node.lineno}"
               for path in sorted(root.rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Constant) and node.value == DEFAULT_SPACE]
    assert repeats == [], f"import search_spaces.DEFAULT_SPACE instead: {repeats}"
