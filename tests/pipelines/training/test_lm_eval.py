"""evaluate_lm: one pass over a split from a zero state, the same whatever ran before, for a
child model and a supernet given the child's architecture."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pipelines.training.lm_eval import evaluate_lm
from pipelines.training.task import LanguageModeling
from pipelines.training.text_data import batchify, load_text
from search_spaces import get_space
from search_spaces.enas_rnn_arch import RnnArch, RnnNode

HIDDEN = 8
ARCH = RnnArch((RnnNode(0, "tanh"), RnnNode(1, "relu"), RnnNode(1, "sigmoid")))


@pytest.fixture(scope="module")
def task() -> LanguageModeling:
    return LanguageModeling(load_text("standin-text"), seq_len=15, eval_batch_size=4)


@pytest.fixture(scope="module")
def models(task):
    torch.manual_seed(0)
    space = get_space("enas-rnn:nodes=3")
    supernet = space.build_lm_supernet(task.vocab_size, HIDDEN)
    child = space.build_lm(ARCH, task.vocab_size, HIDDEN).load_shared(supernet)
    return supernet, child


def test_a_pass_is_the_whole_split_unrolled_from_a_zero_state(task, models):
    _, child = models
    child.eval()
    streams = batchify(task.data.valid, 4)
    with torch.no_grad():
        logits, _ = child.step(streams[:-1])
        want = F.cross_entropy(logits, streams[1:].reshape(-1), reduction="sum")
    score = evaluate_lm(child, task, "valid")
    assert score.count == streams[1:].numel()
    assert score.loss_sum == pytest.approx(float(want), rel=1e-5)
    assert task.metric(score.loss_sum, score.hits, score.count) == pytest.approx(
        math.exp(float(want) / score.count), rel=1e-5)


def test_the_score_does_not_depend_on_what_ran_before_and_the_mode_is_kept(task, models):
    _, child = models
    first = evaluate_lm(child, task, "test")
    child.train()
    child(torch.randint(task.vocab_size, (5, 4)))  # a training segment leaves a carry
    child.eval()
    child(torch.randint(task.vocab_size, (5, 4)))  # so does an evaluation segment
    child.train()
    assert evaluate_lm(child, task, "test") == first
    assert child.training


def test_a_supernet_scores_an_architecture_as_its_child_and_max_batches_cuts_the_pass(task,
                                                                                       models):
    supernet, child = models
    whole = evaluate_lm(supernet, task, "valid", arch=ARCH)
    assert whole.loss_sum == pytest.approx(evaluate_lm(child, task, "valid").loss_sum, rel=1e-6)
    one = evaluate_lm(supernet, task, "valid", arch=ARCH, max_batches=1)
    assert one.count == task.seq_len * task.eval_batch_size < whole.count
