"""The poisoning benchmark on a tiny configuration: one row per (op set, source), means of what
was trained, random architectures drawn apart from the searches, saved runs reused, bad flags."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from support import load_script

from nao.errors import ConfigError

TINY = ["--quick", "--data", "standin:1x8x8", "--layers", "2", "--sets", "3",
        "--controllers", "rl"]


@pytest.fixture(scope="module")
def bench():
    return load_script("poisoning")


def test_each_set_gets_a_row_per_controller_and_one_of_random_architectures_of_that_set(
        bench, tmp_path, restore_threads, monkeypatch):
    report = bench.main([*TINY, "--out", str(tmp_path)])
    rows = {(r["set"], r["source"]): r for r in report["rows"]}
    assert set(rows) == {("3", "rl"), ("3", "random")}
    space = bench.space_of("3", 2)
    for row in rows.values():
        assert len(row["picks"]) == len(row["valid"]) == len(row["test"]) == 2
        for text in row["picks"]:  # every pick lives in the poisoned space: no sep, no avg
            assert {layer.op for layer in space.from_string(text).layers} <= {"conv3", "conv5",
                                                                              "max"}
    trained = json.loads((tmp_path / "runs" / "train-set3-rl.json").read_text())["result"]
    assert rows["3", "rl"]["valid"] == [r["valid"] for r in trained]
    table = (tmp_path / "poisoning.md").read_text()
    mean = statistics.mean(rows["3", "rl"]["test"])
    assert "| 3 | conv3, conv5, max | rl | " in table and f"{mean:.4f} ±" in table
    assert "| 0.1250 | 0.1125 |" in table  # the study's CIFAR-10 row beside ours

    def no_more_training(*args, **kwargs):
        raise AssertionError("a saved run was trained again")

    monkeypatch.setattr(bench, "train", no_more_training)
    monkeypatch.setattr(bench, "search", no_more_training)
    again = bench.main([*TINY, "--out", str(tmp_path)])
    assert again["rows"] == report["rows"]
    for other in (["--train-epochs", "2"], ["--train-size", "100"], ["--stem-stride", "2"]):
        with pytest.raises(AssertionError, match="trained again"):
            bench.main([*TINY, *other, "--out", str(tmp_path)])


def test_random_architectures_are_drawn_apart_from_a_controllers_first_pool(bench):
    config = bench.parse_args(["--quick", "--layers", "4", "--top", "4", "--pool-size", "4"])
    space = bench.space_of("1", 4)
    first_pool = space.sample_distinct(4, np.random.default_rng(config["seed"]))
    assert bench.random_picks(config, "1")["picks"] != [space.to_string(a) for a in first_pool]


@pytest.mark.parametrize(("flags", "says"), [
    (["--sets", "6"], "unknown set '6'"),
    (["--controllers", "evolution"], "unknown controller 'evolution'"),
    (["--top", "5", "--pool-size", "4"], "--pool-size must be at least --top"),
    (["--train-epochs", "0"], "--train-epochs must be at least 1"),
    (["--train-size", "10"], "--train-size must be at least --batch-size"),
])
def test_a_bad_flag_is_a_config_error_before_any_work(bench, flags, says):
    with pytest.raises(ConfigError, match=says):
        bench.parse_args(["--quick", *flags])
