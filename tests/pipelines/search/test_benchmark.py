"""``nao benchmark``: the DESIGN.md keys, the files it writes, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.search.benchmark import Run, _pick_curves, run_benchmark, run_one, summarize

STRATEGIES = "random,evolution,rl"
BUDGET = 12
SEEDS = 2
RESULT_KEYS = {"mean_valid", "std_valid", "median_valid_rank", "mean_test", "std_test", "curve"}
CURVE_KEYS = {"query", "mean_valid", "std_valid", "median_valid_rank", "mean_test"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = ["benchmark", "--strategies", STRATEGIES, "--budget", str(BUDGET), "--seeds",
            str(SEEDS), "--jobs", "1", "--out", str(out), "--quiet", "--json",
            "--set", "evolution.population_size=5", "--set", "evolution.sample_size=2"]
    return out, args


@pytest.fixture(scope="module")
def report(run_dir):
    import contextlib
    import io

    out, args = run_dir
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(args) == 0
    return json.loads(stdout.getvalue())


def test_json_has_the_design_keys(report):
    assert {"space", "budget", "seeds", "wall_s", "results"} <= set(report)
    assert report["budget"] == BUDGET and report["seeds"] == list(range(SEEDS))
    assert list(report["results"]) == STRATEGIES.split(",")
    for res in report["results"].values():
        assert RESULT_KEYS <= set(res)
        assert [p["query"] for p in res["curve"]] == list(range(1, BUDGET + 1))
        assert all(CURVE_KEYS <= set(p) for p in res["curve"])
        assert res["mean_valid"] == res["curve"][-1]["mean_valid"]
        valid = [p["mean_valid"] for p in res["curve"]]
        assert valid == sorted(valid)  # best so far never decreases
        assert 1 <= res["median_valid_rank"] <= report["table_size"]
    assert report["options"]["evolution"] == {"population_size": 5, "sample_size": 2}


def test_summary_matches_the_individual_runs(report):
    for run in report["runs"]:
        assert run["best"]["valid"] <= report["optimum_valid"]
    for name in STRATEGIES.split(","):
        bests = [r["best"]["valid"] for r in report["runs"] if r["strategy"] == name]
        assert report["results"][name]["mean_valid"] == pytest.approx(np.mean(bests))
        tests = [r["best"]["test"] for r in report["runs"] if r["strategy"] == name]
        assert report["results"][name]["mean_test"] == pytest.approx(np.mean(tests))


def test_writes_markdown_json_and_png(report, run_dir):
    out, _ = run_dir
    assert json.loads((out / "benchmark.json").read_text())["results"].keys() == \
        report["results"].keys()
    table = (out / "benchmark.md").read_text()
    assert "| queries | strategy |" in table and f"| {BUDGET} | rl |" in table
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pick_is_the_first_best_and_reports_its_test_accuracy():
    run = Run("x", 0, valid=(0.5, 0.7, 0.6, 0.7, 0.8), test=(0.1, 0.2, 0.3, 0.4, 0.5),
              best={}, wall_s=0.0)
    best, test = _pick_curves(run)
    assert best.tolist() == [0.5, 0.7, 0.7, 0.7, 0.8]
    assert test.tolist() == [0.1, 0.2, 0.2, 0.2, 0.5]  # the tie at query 4 keeps the first


def test_spread_over_seeds_is_the_sample_standard_deviation(cora):
    runs = [Run("x", 0, valid=(0.5, 0.7), test=(0.1, 0.2), best={}, wall_s=1.0),
            Run("x", 1, valid=(0.6, 0.6), test=(0.3, 0.3), best={}, wall_s=2.0),
            Run("x", 2, valid=(0.7, 0.9), test=(0.2, 0.4), best={}, wall_s=3.0),
            Run("y", 0, valid=(0.4, 0.8), test=(0.5, 0.6), best={}, wall_s=1.0)]
    res = summarize(runs, cora, 2)
    first, last = res["x"]["curve"]
    # query 1: best 0.5 0.6 0.7 -> squares .01 0 .01 over n - 1 = 2 -> 0.1 (not sqrt(.02 / 3))
    assert first["mean_valid"] == pytest.approx(0.6) and first["std_valid"] == pytest.approx(0.1)
    assert first["mean_test"] == pytest.approx(0.2) and first["std_test"] == pytest.approx(0.1)
    # query 2: best 0.7 0.6 0.9, mean 2.2 / 3; picks' test 0.2 0.3 0.4
    squares = (0.7 - 2.2 / 3) ** 2 + (0.6 - 2.2 / 3) ** 2 + (0.9 - 2.2 / 3) ** 2
    assert last["std_valid"] == pytest.approx((squares / 2) ** 0.5)
    assert last["std_test"] == pytest.approx(0.1)
    assert res["x"]["std_valid"] == last["std_valid"] and res["x"]["mean_wall_s"] == 2.0
    # a single seed has no spread
    assert res["y"]["std_valid"] == 0.0 == res["y"]["std_test"]
    assert res["y"]["mean_valid"] == pytest.approx(0.8)


@pytest.mark.parametrize("strategy", STRATEGIES.split(","))
def test_a_longer_search_starts_with_the_shorter_one(strategy):
    # run_benchmarks.py reads smaller budgets off the largest run's curve; this is why it may
    short = run_one("nasbench-graph:cora", strategy, 0, 10, {})
    long = run_one("nasbench-graph:cora", strategy, 0, 20, {})
    assert long.valid[:10] == short.valid


@pytest.mark.parametrize("args, message", [
    (["--strategies", "random,bogus"], "unknown strategy 'bogus'"),
    (["--strategies", "random,random"], "more than once"),
    (["--set", "top_k=3"], "prefix each option with its strategy"),
    (["--set", "nao.top_k=3"], "'nao' is not among --strategies"),
    (["--set", "random.no_such=1"], "has no option no_such"),
    (["--space", "nowhere"], "unknown search space"),
])
def test_bad_input_exits_2_with_one_line(args, message, capsys):
    code = main(["benchmark", "--budget", "5", "--seeds", "1", "--jobs", "1", "--quiet",
                 "--strategies", "random", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_checkpoints_outside_the_budget_are_rejected():
    from nao.errors import ConfigError

    with pytest.raises(ConfigError, match="checkpoints"):
        run_benchmark("nasbench-graph:cora", ["random"], 5, 1, checkpoints=[10], n_jobs=1)


def test_a_labelled_variant_runs_its_strategy_with_its_own_options():
    report = run_benchmark("nasbench-graph:cora", ["evolution", "evo-small=evolution",
                                                   "random", "random-again=random"], 12, 2,
                           options={"evo-small": {"population_size": 4, "sample_size": 2}},
                           n_jobs=1)
    assert report["strategies"] == ["evolution", "evo-small", "random", "random-again"]
    assert report["variants"] == {"evo-small": "evolution", "random-again": "random"}
    res = report["results"]
    # a label changes nothing but the name: same strategy, same seeds, same searches
    assert res["random-again"]["curve"] == res["random"]["curve"]
    # the variant's options reach its searches: a population of 4 starts mutating at query 5
    assert res["evo-small"]["curve"] != res["evolution"]["curve"]


@pytest.mark.parametrize("text, message", [
    ("nao,x=bogus", "unknown strategy 'bogus'"),
    ("nao,nao=random", "more than once"),
    ("a.b=random", "without '.'"),
])
def test_bad_labels_are_named(text, message):
    from nao.errors import ConfigError
    from pipelines.search.benchmark import parse_strategies

    with pytest.raises(ConfigError, match=message):
        parse_strategies(text)


def test_finished_searches_are_kept_and_reused(tmp_path):
    cache = tmp_path / "runs"
    first = run_benchmark("nasbench-graph:cora", ["random", "evolution"], 12, 2, n_jobs=1,
                          cache_dir=cache)
    assert sorted(p.name for p in cache.glob("*.json")) == [
        "evolution-seed0.json", "evolution-seed1.json", "random-seed0.json", "random-seed1.json"]
    assert not any(r["reused"] for r in first["runs"])
    again = run_benchmark("nasbench-graph:cora", ["random", "evolution"], 12, 2, n_jobs=1,
                          cache_dir=cache)
    assert all(r["reused"] for r in again["runs"])
    assert again["results"] == first["results"]
    # a shorter budget is read off the longer searches and equals searching it afresh
    short = run_benchmark("nasbench-graph:cora", ["random", "evolution"], 8, 2, n_jobs=1,
                          cache_dir=cache)
    fresh = run_benchmark("nasbench-graph:cora", ["random", "evolution"], 8, 2, n_jobs=1)
    assert all(r["reused"] for r in short["runs"])
    for a, b in zip(short["runs"], fresh["runs"], strict=True):
        assert a["best"] == b["best"]
    for name in ("random", "evolution"):
        assert short["results"][name]["curve"] == fresh["results"][name]["curve"]


def test_the_cache_is_not_used_for_other_options_or_a_damaged_file(tmp_path):
    cache = tmp_path / "runs"
    run_benchmark("nasbench-graph:cora", ["evolution"], 10, 1, n_jobs=1, cache_dir=cache)
    other = run_benchmark("nasbench-graph:cora", ["evolution"], 10, 1, n_jobs=1,
                          options={"evolution": {"population_size": 4, "sample_size": 2}},
                          cache_dir=cache)
    assert not other["runs"][0]["reused"]
    (cache / "evolution-seed0.json").write_text('{"space": "nasbench-graph:cora", "vali')
    damaged = run_benchmark("nasbench-graph:cora", ["evolution"], 10, 1, n_jobs=1,
                            options={"evolution": {"population_size": 4, "sample_size": 2}},
                            cache_dir=cache)
    assert not damaged["runs"][0]["reused"]
    assert damaged["results"]["evolution"]["curve"] == other["results"]["evolution"]["curve"]


def test_fresh_searches_again_and_keeps_the_other_saved_searches(tmp_path):
    out = tmp_path / "bench"
    common = ["benchmark", "--budget", "6", "--seeds", "1", "--jobs", "1", "--quiet", "--json",
              "--out", str(out)]
    assert main([*common, "--strategies", "random,evolution"]) == 0
    assert main([*common, "--strategies", "random", "--fresh"]) == 0
    report = json.loads((out / "benchmark.json").read_text())
    assert not any(r["reused"] for r in report["runs"])
    # --fresh replaces what it searched again and leaves every other finished search alone
    assert (out / "runs" / "evolution-seed0.json").exists()


@pytest.mark.parametrize("label, setting, message", [
    ("nao", "nao.top_k=abc", "nao strategy: top_k must be a whole number"),
    ("nao", "nao.nao_params.epochs=-1", "nao_params.epochs must be a whole number >= 1"),
    ("rl", "rl.lr=-1", "rl strategy: lr must be"),
    ("evolution", "evolution.sample_size=50", "evolution strategy: sample_size"),
    ("random", "random.batch_size=0", "random strategy: batch_size"),
])
def test_every_strategys_options_are_checked_before_any_search(label, setting, message,
                                                               tmp_path, monkeypatch, capsys):
    import pipelines.search.benchmark as bench

    def forbidden(*args, **kwargs):
        raise AssertionError("a search started before the options were checked")

    monkeypatch.setattr(bench, "run_all", forbidden)
    monkeypatch.setattr(bench, "run_one", forbidden)
    out = tmp_path / "bench"
    # the bad strategy comes last, so checking only the first one would let a search start
    code = main(["benchmark", "--budget", "5", "--seeds", "1", "--jobs", "1", "--quiet",
                 "--strategies", f"random-first=random,{label}", "--set", setting,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not out.exists()  # nothing written either


def test_an_out_that_is_a_file_is_refused_before_any_search(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    code = main(["benchmark", "--budget", "5", "--seeds", "1", "--jobs", "1", "--quiet",
                 "--strategies", "random", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is a file" in err
    assert target.read_text() == "keep me"


DAMAGE = {
    "missing test": lambda r: {k: v for k, v in r.items() if k != "test"},
    "missing best": lambda r: {k: v for k, v in r.items() if k != "best"},
    "missing archs": lambda r: {k: v for k, v in r.items() if k != "archs"},
    "missing wall_s": lambda r: {k: v for k, v in r.items() if k != "wall_s"},
    "valid not a list": lambda r: {**r, "valid": "0.5"},
    "a score not a number": lambda r: {**r, "valid": ["x"] * len(r["valid"])},
    "test shorter": lambda r: {**r, "test": r["test"][:-1]},
    "not an object": lambda r: [r],
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_cached_run_with_missing_or_wrong_fields_is_searched_again(damage, tmp_path):
    cache = tmp_path / "runs"
    first = run_benchmark("nasbench-graph:cora", ["evolution"], 10, 1, n_jobs=1, cache_dir=cache)
    path = cache / "evolution-seed0.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(DAMAGE[damage](record)))
    again = run_benchmark("nasbench-graph:cora", ["evolution"], 10, 1, n_jobs=1,
                          cache_dir=cache)  # an intact file would be reused (test above)
    assert not again["runs"][0]["reused"]
    assert again["results"]["evolution"]["curve"] == first["results"]["evolution"]["curve"]
    rewritten = json.loads(path.read_text())  # the damaged file is replaced
    assert {k: v for k, v in rewritten.items() if k != "wall_s"} == \
        {k: v for k, v in record.items() if k != "wall_s"}


def test_a_budget_beyond_the_table_is_refused_before_any_search(tmp_path, monkeypatch, capsys):
    import pipelines.search.benchmark as bench

    monkeypatch.setattr(bench, "run_all", lambda *a, **k: pytest.fail("a search started"))
    code = main(["benchmark", "--budget", "26207", "--seeds", "1", "--jobs", "1", "--quiet",
                 "--strategies", "random", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "26,206 architectures" in err


def test_a_worse_query_after_the_first_keeps_the_first_pick():
    run = Run("x", 0, valid=(0.9, 0.5, 0.4), test=(0.1, 0.2, 0.3), best={}, wall_s=0.0)
    best, test = _pick_curves(run)
    assert best.tolist() == [0.9, 0.9, 0.9]
    assert test.tolist() == [0.1, 0.1, 0.1]
