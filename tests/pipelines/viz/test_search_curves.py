"""Several runs' per-epoch curves (valid accuracy, entropy) in one PNG."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from nao.errors import ConfigError
from pipelines.viz.search_curves import plot_runs, read_log


def write_log(run_dir, rows):
    run_dir.mkdir()
    (run_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_runs_are_read_from_their_logs_and_drawn_in_one_png(tmp_path):
    write_log(tmp_path / "ws-sf", [{"epoch": e, "entropy": 58 - e, "valid_derived": 0.1 * e}
                                   for e in (1, 2, 3)])
    write_log(tmp_path / "ws-rl", [{"epoch": 1, "valid_best": 0.5}])  # no entropy: left out
    runs = {"sf": read_log(tmp_path / "ws-sf"), "rl": read_log(tmp_path / "ws-rl")}
    assert [r["entropy"] for r in runs["sf"]] == [57, 56, 55]
    out = plot_runs(runs, tmp_path / "fig" / "curves.png")
    image = matplotlib.image.imread(out)
    assert image.shape[1] > image.shape[0] > 100  # two panels side by side


def test_a_directory_without_a_log_and_no_runs_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no log.jsonl"):
        read_log(tmp_path)
    with pytest.raises(ConfigError, match="no runs"):
        plot_runs({}, tmp_path / "x.png")
