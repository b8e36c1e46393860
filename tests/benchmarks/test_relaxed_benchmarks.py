"""benchmarks/relaxed_methods.py and benchmarks/estimator_variance.py on tiny inputs."""

from __future__ import annotations

import json

from support import load_script


def test_relaxed_methods_plots_the_runs_and_prints_their_last_epoch(tmp_path, capsys):
    for name, entropy in (("ws-digits-sf", 50.0), ("ws-digits-ram", 40.0)):
        run = tmp_path / name
        run.mkdir()
        rows = [{"epoch": 1, "entropy": 58.0, "valid_derived": 0.2, "wall_s": 1.0},
                {"epoch": 2, "entropy": entropy, "valid_derived": 0.4, "wall_s": 2.0}]
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    script = load_script("relaxed_methods")
    out = tmp_path / "fig.png"
    runs = f"{tmp_path / 'ws-digits-sf'},{tmp_path / 'ws-digits-ram'}"
    assert script.main(["--runs", runs, "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["sf", "2", "50.00"]
    assert lines[2].split()[:3] == ["ram", "2", "40.00"]


def test_estimator_variance_reports_every_estimator_at_one_point(capsys):
    script = load_script("estimator_variance")
    assert script.main(["--data", "standin:1x8x8", "--warmup", "0", "--samples", "4",
                        "--snas-samples", "2", "--baseline-samples", "2",
                        "--relax-warmup", "2", "--ram-decisions", "1", "--channels", "4",
                        "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["estimators"]
    assert set(rows) == {"sf", "relax", "ram", "snas"}
    assert rows["sf"]["passes"] == 1 and rows["ram"]["passes"] > 1  # RAM's extra evaluations
    assert all(r["variance"] >= 0 for r in rows.values())
    assert rows["ram"]["bias_sq_vs_ram"] == 0
