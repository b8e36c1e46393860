"""``nao ws`` / ``nao train`` on the enas-rnn space from the command line: perplexity reported
under names that say so, the LSTM baseline by ``--arch lstm``, and the one-line errors for a
text space given image data or image options, an image space given a text corpus, and a
relaxed controller, all before any data is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import assert_one_line_error, run_cli

import pipelines.commands.text_runs as text_runs
from search_spaces import get_space

SPACE = ["--space", "enas-rnn:nodes=3"]
TINY = ["--data", "standin-text", "--train-size", "3000", "--hidden", "8", "--batch-size", "8",
        "--bptt", "10", "--epochs", "1", "--device", "cpu", "--quiet", "--json"]


def test_ws_reports_the_picks_validation_perplexity(capsys):
    code, out, err = run_cli(capsys, "ws", *SPACE, "--controller", "random", "--pool-size", "3",
                                     *TINY)
    assert code == 0, err
    result = json.loads(out)
    assert result["metric"] == "perplexity" and result["data"]["train"] == 3000
    assert result["best"]["valid_ppl"] == min(c["valid_ppl"] for c in result["candidates"])


@pytest.mark.parametrize("arch", ["lstm", "tanh | 1 relu | 2 identity"])
def test_train_reports_valid_and_test_perplexity(arch, capsys):
    code, out, err = run_cli(capsys, "train", *SPACE, "--arch", arch, *TINY)
    assert code == 0, err
    result = json.loads(out)
    assert result["arch"] == arch and result["test_ppl"] > 1.0
    assert result["valid_ppl"] == result["history"][-1]["valid_ppl"]


MICRO_ARCH = get_space("enas-micro").to_string(
    get_space("enas-micro").sample(np.random.default_rng(0)))


@pytest.mark.parametrize("args, message", [
    (["ws", *SPACE, "--data", "digits"], "models text, not digits; pass --data kjv"),
    (["train", *SPACE, "--arch", "lstm"], "models text, not digits; pass --data kjv"),
    (["ws", "--space", "enas-micro", "--data", "kjv"], "is a text corpus, for --space enas-rnn"),
    (["train", "--space", "enas-micro", "--arch", "lstm", "--data", "kjv"], None),
    (["ws", *SPACE, "--data", "kjv", "--channels", "8"], "--channels configure image networks"),
    (["train", *SPACE, "--arch", "lstm", "--data", "kjv", "--cutout", "4"], "--cutout"),
    (["ws", *SPACE, "--data", "kjv", "--controller", "darts", "--controller-every", "2"],
     "--controller darts has no pool"),
    (["ws", *SPACE, "--data", "ptb"], "--data ptb needs --data-dir"),
    (["ws", *SPACE, "--data", "kjv", "--dropout", "dropoutz=0.1"], "unknown dropout"),
    (["ws", "--space", "enas-micro", "--data", "digits", "--hidden", "32"],
     "--hidden configure language models (--space enas-rnn), not --space enas-micro"),
    (["train", "--space", "enas-micro", "--arch", MICRO_ARCH, "--data", "digits", "--bptt",
      "20", "--dropout", "dropout=0.1"], "--bptt, --dropout configure language models"),
])
def test_mismatched_options_are_one_line_before_any_data_is_loaded(args, message, capsys,
                                                                    monkeypatch):
    def no_loading(*_):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(text_runs, "load_text", no_loading)
    code, _, err = run_cli(capsys, *args, "--quiet")
    assert_one_line_error(code, err)
    assert message is None or message in err
