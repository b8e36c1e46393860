"""run_benchmarks.py: NAO's standing against the best other strategy, and named table blocks
that a second table set (the held-out datasets) writes without touching the first."""

from __future__ import annotations

import pytest
from support import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("run_benchmarks")


def report(space: str, means: dict[str, tuple[float, float]]) -> dict:
    """Two-query curves: ``means[name]`` are the mean best validation after 1 and 2 queries."""
    return {"space": space, "results": {
        name: {"curve": [{"mean_valid": m, "median_valid_rank": 10.0 * (i + 1)}
                         for i, m in enumerate(pair)]} for name, pair in means.items()}}


def test_standing_compares_nao_with_the_best_other_strategy_at_each_budget(script):
    rep = report("nasbench-graph:cs", {"nao": (0.70, 0.80), "tpe": (0.75, 0.78),
                                       "random": (0.72, 0.79)})
    rows = script.standing([rep], [1, 2]).splitlines()[4:]
    assert rows[0] == "| cs | 1 | 0.7000 | tpe (0.7500) | -0.0500 | 10 / 10 |"
    assert rows[1] == "| cs | 2 | 0.8000 | random (0.7900) | +0.0100 | 20 / 20 |"


def test_standing_is_empty_without_nao_or_without_a_rival(script):
    assert script.standing([report("a:b", {"tpe": (0.1, 0.2), "rl": (0.1, 0.2)})], [1]) == ""
    assert script.standing([report("a:b", {"nao": (0.1, 0.2)})], [1]) == ""


def test_a_named_block_replaces_only_its_own_markers(script, tmp_path):
    doc = tmp_path / "results.md"
    first, second = script.markers("tables"), script.markers("heldout")
    doc.write_text(f"intro\n{first[0]}\nold A\n{first[1]}\nmiddle\n{second[0]}\nold B\n"
                   f"{second[1]}\nend\n")
    script.put_into_doc(doc, "new B\n", "heldout")
    text = doc.read_text()
    assert "old A" in text and "old B" not in text and "new B" in text
    assert text.startswith("intro\n") and text.endswith("end\n") and "middle" in text


def test_missing_markers_name_the_lines_to_add(script, tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="benchmark-heldout:start"):
        script.put_into_doc(doc, "tables\n", "heldout")


def test_a_name_that_is_not_a_plain_word_is_refused(script):
    with pytest.raises(SystemExit, match="--name"):
        script.main(["--name", "../x", "--datasets", "cora"])
