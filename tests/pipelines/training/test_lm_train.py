"""Training a word language model from scratch: perplexity falls over the epochs, the test
split is measured once at the end, the LSTM baseline trains the same way, the training split
can be cut to a prefix, and a kill + resume continues to the uninterrupted result."""

from __future__ import annotations

import math

import pytest
from support import kill_after_epoch

from pipelines.training.lm_train import LMOptions, train_lm, trim_train
from pipelines.training.text_data import load_text
from search_spaces import get_space

OPTIONS = LMOptions(hidden=16, batch_size=8, bptt=10)


@pytest.fixture(scope="module")
def space():
    return get_space("enas-rnn:nodes=3")


@pytest.fixture(scope="module")
def data():
    return trim_train(load_text("standin-text"), 6000)


@pytest.mark.parametrize("arch", ["tanh | 1 relu | 1 identity", None], ids=["cell", "lstm"])
def test_training_lowers_perplexity_and_reports_test_perplexity(space, data, arch):
    cell = None if arch is None else space.from_string(arch)
    result = train_lm(space, cell, data, epochs=2, options=OPTIONS, progress=False)
    valid = [h["valid_ppl"] for h in result.history]
    assert valid[1] < valid[0] < data.vocab_size  # better than a uniform guess, and improving
    assert result.valid_ppl == valid[-1]
    assert 1.0 < result.test_ppl < data.vocab_size and math.isfinite(result.test_ppl)


def test_train_size_keeps_a_prefix_of_the_training_text(data):
    cut = trim_train(data, 500)
    assert cut.stats["train_size"] == 500
    assert cut.train.tolist() == data.train[:500].tolist()
    assert len(cut.valid) == len(data.valid) and trim_train(data, None) is data


def test_resume_after_a_kill_gives_the_uninterrupted_result(space, data, tmp_path, monkeypatch):
    cell = space.from_string("tanh | 1 sigmoid | 2 relu")
    whole = train_lm(space, cell, data, epochs=2, options=OPTIONS, progress=False)
    kill_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train_lm(space, cell, data, epochs=2, options=OPTIONS, progress=False, out_dir=tmp_path)
    resumed = train_lm(space, cell, data, epochs=2, options=OPTIONS, progress=False,
                       out_dir=tmp_path, resume=True)
    assert resumed.test_ppl == whole.test_ppl
    assert [h["valid_ppl"] for h in resumed.history] == [h["valid_ppl"] for h in whole.history]
    assert (tmp_path / "log.csv").read_text().count("\n") == 3  # header + two epochs
