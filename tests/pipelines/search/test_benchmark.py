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


def test_a_search_saved_before_a_default_changed_is_searched_again(tmp_path, monkeypatch):
    """The user's options are the same ``{}`` before and after an upgrade that changed a
    default; the saved search is not the new code's, so it must not be reported as one."""
    import pipelines.search.benchmark as bench
    import pipelines.strategies.nao_strategy as nao_strategy

    cache = tmp_path / "runs"
    first = run_benchmark("nasbench-graph:cora", ["nao"], 6, 1, n_jobs=1, cache_dir=cache)
    saved = json.loads((cache / "nao-seed0.json").read_text())
    assert saved["options"] == {} and saved["settings"]["nao_params"]["hidden_size"] == 64
    again = run_benchmark("nasbench-graph:cora", ["nao"], 6, 1, n_jobs=1, cache_dir=cache)
    assert [r["reused"] for r in first["runs"] + again["runs"]] == [False, True]
    monkeypatch.setitem(nao_strategy.DEFAULT_NAO_PARAMS, "hidden_size", 65)
    bench._settings.cache_clear()  # one process normally sees one version of the code
    upgraded = run_benchmark("nasbench-graph:cora", ["nao"], 6, 1, n_jobs=1, cache_dir=cache)
    bench._settings.cache_clear()
    assert [r["reused"] for r in upgraded["runs"]] == [False]
    resaved = json.loads((cache / "nao-seed0.json").read_text())
    assert resaved["settings"]["nao_params"]["hidden_size"] == 65


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


def _point(query, valid, std_valid, test, std_test, rank=1.0):
    return {"query": query, "mean_valid": valid, "std_valid": std_valid,
            "median_valid_rank": rank, "mean_test": test, "std_test": std_test}


def _hand_report(seeds):
    """A report as run_benchmark writes it, with figures chosen by hand."""
    return {
        "space": "nasbench-graph:cora", "budget": 3, "seeds": seeds, "table_size": 26206,
        "optimum_valid": 0.91234, "optimum_test": 0.8, "checkpoints": [1, 3],
        "results": {
            "a": {"curve": [_point(1, 0.5, 0.01, 0.4, 0.02, 12), _point(2, 0.6, 0.01, 0.5, 0.02),
                            _point(3, 0.7, 0.02, 0.6, 0.01, 12.5)]},
            "b": {"curve": [_point(1, 0.55, 0.0, 0.45, 0.0, 3), _point(2, 0.65, 0.03, 0.55, 0.01),
                            _point(3, 0.75, 0.01, 0.65, 0.02, 2)]}},
    }


def _plotted(report, tmp_path, monkeypatch):
    """The figure plot() saves for ``report``."""
    from matplotlib.figure import Figure

    from pipelines.search.benchmark import plot

    figures, savefig = [], Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    plot(report, tmp_path / "benchmark.png")
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    return fig


def _band(ax, index):
    """Lowest and highest y of the index-th band at each query."""
    vertices = ax.collections[index].get_paths()[0].vertices
    xs = sorted(set(vertices[:, 0]))
    return ([min(y for x, y in vertices if x == q) for q in xs],
            [max(y for x, y in vertices if x == q) for q in xs])


def test_the_plot_draws_each_strategys_mean_its_confidence_band_and_the_table_best(
        tmp_path, monkeypatch):
    from scipy.stats import t as student_t

    report = _hand_report([0, 1])
    fig = _plotted(report, tmp_path, monkeypatch)
    valid_ax, test_ax = fig.axes
    assert "validation" in valid_ax.get_title().lower() and "test" in test_ax.get_title().lower()
    half_width = student_t.ppf(0.975, 1) / 2 ** 0.5  # two seeds
    for ax, mean_key, std_key, optimum in ((valid_ax, "mean_valid", "std_valid", 0.91234),
                                           (test_ax, "mean_test", "std_test", 0.8)):
        *curves, best = ax.get_lines()
        assert [line.get_label() for line in curves] == ["a", "b"]
        assert best.get_label() == "table best" and list(best.get_ydata()) == [optimum] * 2
        for i, (line, res) in enumerate(zip(curves, report["results"].values(), strict=True)):
            mean = np.array([p[mean_key] for p in res["curve"]])
            band = half_width * np.array([p[std_key] for p in res["curve"]])
            assert list(line.get_xdata()) == [1, 2, 3]
            assert line.get_ydata() == pytest.approx(mean)
            low, high = _band(ax, i)
            assert low == pytest.approx(mean - band) and high == pytest.approx(mean + band)
        # framed on the means from query 1 (a tenth of 3 queries) up to the table's best
        lo = min(p[mean_key] for res in report["results"].values() for p in res["curve"])
        pad = 0.3 * (optimum - lo) + 0.002
        assert ax.get_ylim() == pytest.approx((lo - pad, optimum + pad))
    assert [t.get_text() for t in valid_ax.get_legend().get_texts()] == ["a", "b", "table best"]
    assert test_ax.get_legend() is None  # one legend serves both panels
    assert "nasbench-graph:cora" in fig.get_suptitle() and "2 seeds" in fig.get_suptitle()
    assert "95%" in fig.get_suptitle()


def test_one_seed_is_plotted_without_a_band(tmp_path, monkeypatch):
    report = _hand_report([7])
    for res in report["results"].values():  # a single seed has no spread (summarize)
        for p in res["curve"]:
            p["std_valid"] = p["std_test"] = 0.0
    fig = _plotted(report, tmp_path, monkeypatch)
    for ax, mean_key in zip(fig.axes, ("mean_valid", "mean_test"), strict=True):
        for i, res in enumerate(report["results"].values()):
            low, high = _band(ax, i)
            assert low == high == pytest.approx([p[mean_key] for p in res["curve"]])


@pytest.mark.parametrize("budget, skip", [(10, 1), (30, 3)])
def test_the_plot_frames_the_means_after_the_first_tenth_of_the_budget(budget, skip):
    from pipelines.search.benchmark import _y_limits

    early = [0.2, 0.3, 0.5, 0.6]  # the first queries; the means level off at 0.8
    a = [0.85] * budget
    b = early + [0.8] * (budget - len(early))
    report = {"budget": budget, "optimum_valid": 0.9,
              "results": {"a": {"curve": [{"mean_valid": v} for v in a]},
                          "b": {"curve": [{"mean_valid": v} for v in b]}}}
    lo = min(b[skip - 1:])  # query `skip` on: 0.2 with a budget of 10, 0.5 with 30
    pad = 0.3 * (0.9 - lo) + 0.002
    assert _y_limits(report, "mean_valid", "optimum_valid") == pytest.approx(
        (lo - pad, 0.9 + pad))


def test_the_markdown_table_shows_every_strategy_at_each_checkpoint():
    from pipelines.search.benchmark import markdown

    lines = markdown(_hand_report([3, 4, 5])).split("\n")
    assert lines[0] == "# Benchmark on nasbench-graph:cora" and lines[1] == ""
    assert lines[2].startswith("Budget 3 distinct architectures, 3 seeds (3..5), table of 26,206 "
                               "architectures (best validation 0.9123, best test 0.8000).")
    assert lines[3:] == [
        "",
        "| queries | strategy | best valid | median valid rank | test of pick |",
        "| ---: | --- | ---: | ---: | ---: |",
        "| 1 | a | 0.5000 ± 0.0100 | 12 | 0.4000 ± 0.0200 |",
        "| 1 | b | 0.5500 ± 0.0000 | 3 | 0.4500 ± 0.0000 |",
        "| 3 | a | 0.7000 ± 0.0200 | 12.5 | 0.6000 ± 0.0100 |",
        "| 3 | b | 0.7500 ± 0.0100 | 2 | 0.6500 ± 0.0200 |",
        "",  # the file ends with a newline
    ]


@pytest.mark.parametrize("budget, fractions, expected", [
    (12, (0.25, 0.5, 1.0), [3, 6, 12]),
    (3, (0.25, 0.5, 1.0), [1, 2, 3]),  # rounded up, never below one query
    (1, (0.25, 0.5, 1.0), [1]),
    (10, (0.0, 0.55), [1, 6, 10]),  # the budget always closes the table
])
def test_checkpoints_are_shares_of_the_budget_rounded_up(budget, fractions, expected):
    from pipelines.search.benchmark import checkpoints_for

    assert checkpoints_for(budget, fractions) == expected


def test_strategies_are_split_on_commas_and_stripped():
    from pipelines.search.benchmark import base_strategy, label_of, parse_strategies

    assert parse_strategies(" nao , evo-small = evolution,rl") == [
        "nao", "evo-small = evolution", "rl"]
    assert label_of("evo-small = evolution") == "evo-small"
    assert base_strategy("evo-small = evolution") == "evolution"


@pytest.mark.parametrize("text", ["", "  ", "nao,", "nao,,rl", ", nao"])
def test_empty_strategy_names_are_refused_with_the_text_given(text):
    from nao.errors import ConfigError
    from nao.validation import shown
    from pipelines.search.benchmark import parse_strategies

    with pytest.raises(ConfigError) as error:
        parse_strategies(text)
    assert str(error.value).startswith(f"--strategies {shown(text)}: give comma-separated names")


def test_every_unknown_strategy_is_named_with_the_choices():
    from nao.errors import ConfigError
    from pipelines.search.benchmark import parse_strategies
    from pipelines.strategies import STRATEGIES

    with pytest.raises(ConfigError) as error:
        parse_strategies("nao,x=bogus,nope,y=z=random")  # only the first '=' splits
    assert str(error.value) == (
        "--strategies: unknown strategy 'bogus', 'nope', 'z=random'; choose from "
        f"{', '.join(sorted(STRATEGIES))} (or LABEL=STRATEGY)")


def test_the_first_bad_label_and_every_repeated_one_are_named():
    from nao.errors import ConfigError
    from pipelines.search.benchmark import parse_strategies

    with pytest.raises(ConfigError, match=r"^--strategies: label 'a\.b' must be"):
        parse_strategies("a.b=random,c/d=rl")
    with pytest.raises(ConfigError) as error:
        parse_strategies("random,evolution,rl,random,evolution")
    assert str(error.value) == "--strategies: evolution, random given more than once"


def test_set_options_are_keyed_by_label_and_checked_against_the_strategies():
    from nao.errors import ConfigError
    from pipelines.search.benchmark import split_options

    strategies = ["nao", "fast=random"]
    assert split_options({"fast": {"batch_size": 2}}, strategies) == {
        "nao": {}, "fast": {"batch_size": 2}}
    with pytest.raises(ConfigError) as error:
        split_options({"top_k": 3}, strategies)
    assert str(error.value) == ("--set top_k=3: prefix each option with its strategy, e.g. "
                                "--set nao.top_k=...")
    with pytest.raises(ConfigError) as error:
        split_options({"rl": {"lr": 0.1}}, strategies)
    assert str(error.value) == "--set rl.*: 'rl' is not among --strategies (nao, fast)"


def test_two_seeds_have_a_spread(cora):
    runs = [Run("x", 0, valid=(0.5,), test=(0.1,), best={}, wall_s=1.0),
            Run("x", 1, valid=(0.7,), test=(0.4,), best={}, wall_s=1.0)]
    res = summarize(runs, cora, 1)["x"]
    assert set(res) == {"mean_valid", "std_valid", "median_valid_rank", "mean_test", "std_test",
                        "mean_wall_s", "curve"}  # the last curve point, without its query count
    assert res["std_valid"] == pytest.approx(0.2 / 2 ** 0.5)
    assert res["std_test"] == pytest.approx(0.3 / 2 ** 0.5)


def test_the_report_holds_the_setup_and_each_runs_figures(cora, tmp_path, monkeypatch):
    import types

    import pipelines.search.benchmark as bench

    runs = [Run("random", 3, (0.5, 0.6, 0.7, 0.8), (0.4, 0.5, 0.5, 0.6), {"valid": 0.8}, 1.23456),
            Run("random", 4, (0.6, 0.6, 0.6, 0.7), (0.5, 0.5, 0.5, 0.6), {"valid": 0.7}, 2.0,
                reused=True),
            Run("evo", 3, (0.5, 0.7, 0.7, 0.7), (0.4, 0.6, 0.6, 0.6), {"valid": 0.7}, 0.0004),
            Run("evo", 4, (0.4, 0.5, 0.6, 0.7), (0.3, 0.4, 0.5, 0.6), {"valid": 0.7}, 3.0)]
    calls = []

    def run_all(*args):
        calls.append(args)
        return runs

    clock = iter([100.0, 102.34567])
    monkeypatch.setattr(bench, "run_all", run_all)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    options = {"evo": {"population_size": 4, "sample_size": 2}}
    on_done = print
    report = bench.run_benchmark("nasbench-graph:cora", ["random", "evo=evolution"], 4, 2,
                                 seed0=3, options=options, n_jobs=1, on_done=on_done,
                                 checkpoints=[4, 2, 2], cache_dir=tmp_path, reuse=False,
                                 scheduler="tcp://cluster:8786")
    # every choice reaches the searches
    assert calls == [("nasbench-graph:cora", ["random", "evo=evolution"], 4, [3, 4],
                      {"random": {}, **options}, 1, on_done, tmp_path, False,
                      "tcp://cluster:8786")]
    assert report == {
        "space": "nasbench-graph:cora", "strategies": ["random", "evo"],
        "variants": {"evo": "evolution"}, "budget": 4, "seeds": [3, 4],
        "options": {"random": {}, **options}, "checkpoints": [2, 4],
        "table_size": len(cora.benchmark), "optimum_valid": cora.benchmark.optimum_valid,
        "optimum_test": cora.benchmark.optimum_test, "results": summarize(runs, cora, 4),
        "runs": [{"strategy": "random", "seed": 3, "best": {"valid": 0.8}, "wall_s": 1.235,
                  "reused": False},
                 {"strategy": "random", "seed": 4, "best": {"valid": 0.7}, "wall_s": 2.0,
                  "reused": True},
                 {"strategy": "evo", "seed": 3, "best": {"valid": 0.7}, "wall_s": 0.0,
                  "reused": False},
                 {"strategy": "evo", "seed": 4, "best": {"valid": 0.7}, "wall_s": 3.0,
                  "reused": False}],
        "wall_s": 2.346,
    }
    # by default: seeds from 0, the checkpoints at a quarter, half and all of the budget,
    # saved searches reused, on this machine's processes
    clock = iter([0.0, 1.0])
    calls.clear()
    report = bench.run_benchmark("nasbench-graph:cora", ["random"], 4, 2)
    assert report["seeds"] == [0, 1] and report["checkpoints"] == [1, 2, 4]
    assert calls[0][3:] == ([0, 1], {"random": {}}, -1, None, None, True, None)


@pytest.mark.parametrize("checkpoints, accepted", [
    ([0, 4], False), ([1, 4], True), ([1, 3, 5], False), ([4], True)])
def test_checkpoints_lie_between_one_and_the_budget(checkpoints, accepted, monkeypatch):
    import pipelines.search.benchmark as bench
    from nao.errors import ConfigError

    runs = [Run("random", 0, (0.5, 0.6, 0.7, 0.8), (0.4, 0.5, 0.5, 0.6), {}, 1.0)]
    monkeypatch.setattr(bench, "run_all", lambda *args: runs)
    if accepted:
        report = bench.run_benchmark("nasbench-graph:cora", ["random"], 4, 1,
                                     checkpoints=checkpoints)
        assert report["checkpoints"] == checkpoints
    else:
        with pytest.raises(ConfigError, match=r"between 1 and the budget \(4\)"):
            bench.run_benchmark("nasbench-graph:cora", ["random"], 4, 1,
                                checkpoints=checkpoints)


def test_a_cluster_runs_the_same_searches_and_this_process_saves_them(tmp_path, monkeypatch):
    import pipelines.search.benchmark as bench

    addresses = []

    def cluster(calls, address):  # finishes them last to first, as a cluster may
        addresses.append(address)
        return (call() for call in reversed(calls))

    monkeypatch.setattr(bench, "dask_unordered", cluster)
    strategies = ["random", "evo-small=evolution"]
    options = {"evo-small": {"population_size": 4, "sample_size": 2}}
    cache, done = tmp_path / "runs", []
    remote = run_benchmark("nasbench-graph:cora", strategies, 6, 2, options=options,
                           on_done=done.append, cache_dir=cache, scheduler="tcp://cluster:8786")
    local = run_benchmark("nasbench-graph:cora", strategies, 6, 2, options=options, n_jobs=1)
    assert addresses == ["tcp://cluster:8786"]
    order = [("random", 0), ("random", 1), ("evo-small", 0), ("evo-small", 1)]
    assert [(r["strategy"], r["seed"]) for r in remote["runs"]] == order
    assert sorted((r.strategy, r.seed) for r in done) == sorted(order)
    assert [r["best"] for r in remote["runs"]] == [r["best"] for r in local["runs"]]
    for name in ("random", "evo-small"):
        assert remote["results"][name]["curve"] == local["results"][name]["curve"]
    # saved here, each with its strategy, options and architectures, so the next run reuses them
    record = json.loads((cache / "evo-small-seed1.json").read_text())
    assert {k: record[k] for k in ("space", "strategy", "label", "seed", "options")} == {
        "space": "nasbench-graph:cora", "strategy": "evolution", "label": "evo-small",
        "seed": 1, "options": options["evo-small"]}
    assert len(record["archs"]) == len(set(record["archs"])) == 6
    assert json.loads((cache / "random-seed0.json").read_text())["options"] == {}
    done.clear()
    again = run_benchmark("nasbench-graph:cora", strategies, 6, 2, options=options,
                          on_done=done.append, cache_dir=cache, scheduler="tcp://cluster:8786")
    assert all(r["reused"] for r in again["runs"])
    assert sorted((r.strategy, r.seed) for r in done) == sorted(order)
    assert again["results"]["evo-small"]["curve"] == remote["results"]["evo-small"]["curve"]


SAVED = {"space_name": "nasbench-graph:cora", "strategy": "evo-small=evolution",
         "options": {"population_size": 4, "sample_size": 2}}


def _save(cache, seed=2):
    """A finished 6-query search saved as a benchmark saves it; one test accuracy missing."""
    from pipelines.search.benchmark import _save_run

    run = Run("evo-small", seed, valid=(0.5, 0.7, 0.6, 0.7, 0.8, 0.8),
              test=(0.4, np.nan, 0.5, 0.6, 0.7, 0.75), best={"arch": "a4", "valid": 0.8},
              wall_s=12.0)
    _save_run(run, cache, "nasbench-graph:cora", "evolution", SAVED["options"],
              [f"a{i}" for i in range(6)])
    return cache / f"evo-small-seed{seed}.json"


def test_a_saved_run_reads_back_whole_or_cut_to_a_shorter_budget(tmp_path, cora):
    from pipelines.search.benchmark import load_cached_run
    from pipelines.search.loop import pick_record

    cache = tmp_path / "bench" / "runs"  # made with its parents
    path = _save(cache)
    assert json.loads(path.read_text())["test"] == [0.4, None, 0.5, 0.6, 0.7, 0.75]
    assert not list(cache.glob("*.tmp"))
    whole = load_cached_run(cache, **SAVED, seed=2, budget=6)
    assert whole.reused and (whole.strategy, whole.seed) == ("evo-small", 2)
    assert whole.valid == (0.5, 0.7, 0.6, 0.7, 0.8, 0.8)
    assert np.isnan(whole.test[1]) and whole.test[2:] == (0.5, 0.6, 0.7, 0.75)
    assert whole.best == {"arch": "a4", "valid": 0.8} and whole.wall_s == 12.0
    # the first half of the search: its own pick (no test accuracy) and half the time
    cut = load_cached_run(cache, **SAVED, seed=2, budget=3)
    assert cut.valid == (0.5, 0.7, 0.6) and cut.test[0] == 0.4 and np.isnan(cut.test[1])
    assert cut.best == pick_record("a1", 0.7, None, 2, cora.benchmark)
    assert "test_rank" not in cut.best and cut.wall_s == 6.0


@pytest.mark.parametrize("change", [
    {"space_name": "nasbench-graph:citeseer"}, {"strategy": "evo-small=random"},
    {"options": {"population_size": 5, "sample_size": 2}}, {"seed": 3}, {"budget": 7}])
def test_a_saved_run_is_not_read_back_for_another_search(change, tmp_path):
    from pipelines.search.benchmark import load_cached_run

    _save(tmp_path)
    assert load_cached_run(tmp_path, **{**SAVED, "seed": 2, "budget": 6, **change}) is None


SAVED_DAMAGE = {
    "no queries": lambda r: {**r, "valid": [], "test": [], "archs": []},
    "a score infinite": lambda r: {**r, "valid": [float("inf")] + r["valid"][1:]},
    "a score true": lambda r: {**r, "valid": [True] + r["valid"][1:]},
    "a test accuracy not a number": lambda r: {**r, "test": ["x"] + r["test"][1:]},
    "an arch not a string": lambda r: {**r, "archs": [3] + r["archs"][1:]},
    "archs not a list": lambda r: {**r, "archs": "".join(r["archs"])},
    "archs shorter": lambda r: {**r, "archs": r["archs"][:-1]},
    "best not an object": lambda r: {**r, "best": ["a4"]},
    "wall_s not a number": lambda r: {**r, "wall_s": "12"},
    "wall_s infinite": lambda r: {**r, "wall_s": float("inf")},
    "options not an object": lambda r: {**r, "options": [["population_size", 4]]},
    "missing space": lambda r: {k: v for k, v in r.items() if k != "space"},
    "no settings (saved before runs kept them)":
        lambda r: {k: v for k, v in r.items() if k != "settings"},
    "other settings (saved under another default)":
        lambda r: {**r, "settings": {**r["settings"], "max_mutation_tries": 7}},
}


@pytest.mark.parametrize("damage", SAVED_DAMAGE)
def test_a_damaged_or_hand_edited_saved_run_is_not_read_back(damage, tmp_path):
    from pipelines.search.benchmark import load_cached_run

    path = _save(tmp_path)
    assert load_cached_run(tmp_path, **SAVED, seed=2, budget=3) is not None
    path.write_text(json.dumps(SAVED_DAMAGE[damage](json.loads(path.read_text()))))
    assert load_cached_run(tmp_path, **SAVED, seed=2, budget=3) is None


def test_write_puts_the_table_the_report_and_the_plot_in_a_new_directory(tmp_path):
    from pipelines.search.benchmark import markdown, write

    report = _hand_report([0, 1])
    out = tmp_path / "results" / "cora"
    paths = write(report, str(out))
    assert paths == {"markdown": out / "benchmark.md", "json": out / "benchmark.json",
                     "plot": out / "benchmark.png"}
    assert paths["markdown"].read_text() == markdown(report)
    assert json.loads(paths["json"].read_text()) == report
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_searches_run_on_the_jobs_asked_for_and_each_is_reported_when_it_finishes(monkeypatch):
    import os

    import joblib

    import pipelines.search.benchmark as bench
    from pipelines.search.engine import exit_with_parent

    jobs, pools, log = [], [], []

    class Parallel(joblib.Parallel):
        def __init__(self, n_jobs=None, **kwargs):
            jobs.append(n_jobs)
            pools.append(kwargs)
            super().__init__(n_jobs=1, **kwargs)  # in this process, whatever was asked

    search = bench.run_one

    def run_one(space_name, strategy, seed, *args):
        log.append(("start", seed))
        return search(space_name, strategy, seed, *args)

    monkeypatch.setattr(joblib, "Parallel", Parallel)
    monkeypatch.setattr(bench, "run_one", run_one)
    bench.run_benchmark("nasbench-graph:cora", ["random"], 4, 3, n_jobs=3,
                        on_done=lambda run: log.append(("done", run.seed)))
    assert jobs == [3]
    assert log == [("start", 0), ("done", 0), ("start", 1), ("done", 1), ("start", 2), ("done", 2)]
    # each worker watches this process and ends with it, and an idle one leaves after seconds
    (pool,) = pools
    assert pool["initializer"] is exit_with_parent and pool["initargs"] == (os.getpid(),)
    assert pool["idle_worker_timeout"] == bench.IDLE_WORKER_TIMEOUT_S <= 10


@pytest.mark.parametrize("n_seeds, accepted", [(0, False), (1, True), (1000, True),
                                               (1001, False)])
def test_one_to_a_thousand_seeds_are_accepted(n_seeds, accepted):
    from nao.errors import ConfigError
    from pipelines.search.benchmark import check_seeds

    if accepted:
        check_seeds(n_seeds)
    else:
        with pytest.raises(ConfigError, match=f"^--seeds {n_seeds}: choose 1 to 1000; "):
            check_seeds(n_seeds)


def test_a_benchmarks_directory_is_known_by_its_report_or_a_saved_search(tmp_path):
    from pipelines.search.benchmark import benchmark_files

    assert benchmark_files(tmp_path / "missing") is None
    assert benchmark_files(tmp_path) is None
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes.json").write_text("{}")
    assert benchmark_files(tmp_path) is None
    (tmp_path / "runs" / "random-seed3.json").write_text("{}")
    assert benchmark_files(str(tmp_path)) == tmp_path / "runs" / "random-seed3.json"
    (tmp_path / "benchmark.json").write_text("{}")
    assert benchmark_files(tmp_path) == tmp_path / "benchmark.json"
