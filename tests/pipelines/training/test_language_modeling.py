"""The language-modelling task: BPTT minibatches, perplexity as the metric (lower is better),
and the existing epoch loop training an enas-rnn language model and its supernet on it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipelines.training.data import load_data
from pipelines.training.epochs import train_epoch
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification, LanguageModeling, perplexity
from pipelines.training.text_data import load_text
from search_spaces import get_space
from search_spaces.enas_rnn_net import lstm_lm

HIDDEN = 16
TRAIN_WORDS = 3000  # of the stand-in's 20k: a few seconds per test on a shared CPU
NO_DROPOUT = {"dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0}


@pytest.fixture(scope="module")
def task() -> LanguageModeling:
    data = load_text("standin-text")
    return LanguageModeling(replace(data, train=data.train[:TRAIN_WORDS]), seq_len=10)


def test_the_metric_is_perplexity_and_lower_is_better_while_accuracy_is_higher(task):
    assert task.metric_name == "perplexity" and task.higher_is_better is False
    assert ImageClassification.metric_name == "accuracy"
    assert ImageClassification.higher_is_better is True
    images = ImageClassification(load_data("standin:1x4x4"))
    assert images.metric(0.0, 3, 4) == 0.75


def test_perplexity_is_exp_of_the_mean_cross_entropy_per_word_over_a_pass(task):
    """Summed over segments of unequal length, as a loop sums: exp(-mean log p(next word))."""
    torch.manual_seed(0)
    loss_sum, count, log_probs = 0.0, 0, []
    for _x, y in task.eval_batches("valid", batch_size=3):
        logits = torch.randn(y.shape[0], task.vocab_size)
        loss_sum += float(task.loss(logits, y, reduction="sum"))
        count += len(y)
        log_probs.append(F.log_softmax(logits, 1).gather(1, y[:, None]).squeeze(1))
    assert count == 3 * (len(task.data.valid) // 3 - 1)  # every word but a stream's first
    want = math.exp(-float(torch.cat(log_probs).double().mean()))
    assert task.metric(loss_sum, 0, count) == pytest.approx(want, rel=1e-6)
    assert perplexity(1e6) == math.inf


def test_an_epoch_is_the_training_text_in_order_in_segments_of_seq_len(task):
    batches = list(task.train_batches(4, torch.Generator()))
    assert len(batches) == task.n_train_batches(4)
    x, y = batches[0]
    assert x.shape == (10, 4) and y.shape == (40,)
    rows = len(task.data.train) // 4
    assert torch.equal(x[:, 0], task.data.train[:10])
    assert torch.equal(batches[1][0][:, 1], task.data.train[rows + 10:rows + 20])


def train(model, task, epochs: int, choose=None) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(epochs):
        model.reset_state()
        loss, _acc = train_epoch(model, task, optimizer, Runtime("cpu"), batch_size=8,
                                 generator=torch.Generator().manual_seed(0), grad_clip=0.25,
                                 choose=choose)
        losses.append(loss)
    return losses


def validation_perplexity(model, task, arch=None) -> float:
    model.eval()
    model.reset_state()
    loss_sum, count = 0.0, 0
    with torch.no_grad():
        for x, y in task.eval_batches("valid"):
            logits = model(x) if arch is None else model(x, arch)
            loss_sum += float(task.loss(logits, y, reduction="sum"))
            count += len(y)
    return task.metric(loss_sum, 0, count)


def test_the_epoch_loop_trains_a_cell_lm_below_the_uniform_perplexity(task):
    torch.manual_seed(0)
    space = get_space("enas-rnn:nodes=3")
    arch = space.sample(np.random.default_rng(0))
    model = space.build_lm(arch, task.vocab_size, HIDDEN, NO_DROPOUT)
    before = validation_perplexity(model, task)
    losses = train(model, task, epochs=4)
    after = validation_perplexity(model, task)
    assert losses == sorted(losses, reverse=True)
    # uniform guessing is a perplexity of the vocabulary's size; the chain's is about 3.5
    assert before > 0.9 * task.vocab_size and after < 0.35 * before


def test_the_epoch_loop_trains_the_supernet_with_a_cell_per_minibatch_and_an_lstm(task):
    torch.manual_seed(0)
    space = get_space("enas-rnn:nodes=3")
    rng = np.random.default_rng(1)
    pool = [space.sample(rng) for _ in range(3)]
    supernet = space.build_lm_supernet(task.vocab_size, HIDDEN, NO_DROPOUT)
    losses = train(supernet, task, epochs=2, choose=lambda: pool[int(rng.integers(3))])
    assert losses[1] < losses[0]
    assert validation_perplexity(supernet, task, pool[0]) < 0.6 * task.vocab_size
    lstm = lstm_lm(task.vocab_size, HIDDEN, NO_DROPOUT)
    losses = train(lstm, task, epochs=2)
    assert losses[1] < losses[0]
