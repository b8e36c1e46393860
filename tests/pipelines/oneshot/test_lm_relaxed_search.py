"""The relaxed controllers on a recurrent cell for language modelling (``nao ws --space enas-rnn
--controller darts|snas|sf|relax|ram``): alpha learns, the pick is scored by validation
perplexity with the shared weights, the alpha steps leave the training stream's hidden state
alone, a seed fixes the run (dropout masks included) and a killed run resumes to the
uninterrupted result."""

from __future__ import annotations

import json
import math
from functools import partial

import numpy as np
import pytest
import torch
from support import killed_and_resumed, run_cli, untimed

from pipelines.oneshot.arch_params import ArchParams
from pipelines.oneshot.lm_weight_sharing import LMPoolScorer
from pipelines.oneshot.one_shot_tasks import TextOneShot
from pipelines.oneshot.relaxed_search import LMRelaxedSearch, SupernetObjective
from pipelines.training.lm_train import LMOptions, trim_train
from pipelines.training.runtime import Runtime
from pipelines.training.task import LanguageModeling
from pipelines.training.text_data import load_text
from search_spaces import get_space

CONTROLLERS = ["darts", "snas", "sf", "relax", "ram"]


@pytest.fixture(scope="module")
def space():
    return get_space("enas-rnn:nodes=3")


@pytest.fixture(scope="module")
def data():
    return trim_train(load_text("standin-text"), 2000)


def search(space, controller, **kw):
    options = {"epochs": 1, "hidden": 8, "batch_size": 8, "bptt": 10, "eval_batches": 2,
               "device": "cpu", "threads": 1, "progress": False, **kw}
    return LMRelaxedSearch(space, controller, **options)


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_alpha_learns_and_the_pick_is_scored_by_whole_validation_perplexity(space, data,
                                                                             controller):
    s = search(space, controller).fit(data)
    assert s.params_.alpha.abs().sum() > 0  # alpha steps ran
    row = s.history_[0]
    assert row["train_ppl"] == pytest.approx(math.exp(row["train_loss"]))
    assert row["valid_ppl_derived"] > 1.0 and row["valid_ppl_sampled"] > 1.0
    assert row["derived_arch"] == space.to_string(s.best_arch_)
    scorer = LMPoolScorer(s.supernet_, LanguageModeling(data, seq_len=10), s.runtime_,
                          batch_size=None, n_batches=None)
    assert s.best_valid_ == pytest.approx(scorer.perplexities([s.best_arch_])[0])
    out = s.result(data)
    assert out["metric"] == "perplexity" and out["best"]["valid_ppl"] == s.best_valid_
    assert out["hidden"] == 8 and out["bptt"] == 10 and "channels" not in out


def test_an_alpha_step_starts_from_a_zero_state_and_leaves_the_training_carry_alone(space,
                                                                                     data):
    torch.manual_seed(0)
    supernet = space.build_lm_supernet(data.vocab_size, 8, {"dropout": 0.0, "dropouth": 0.0,
                                                            "dropoutx": 0.0, "dropouti": 0.0})
    task = LanguageModeling(data, seq_len=10)
    segments = task.eval_batches("valid", 4)
    first, second = next(segments), next(segments)
    arch = space.sample(np.random.default_rng(0))
    supernet.train()
    supernet(first[0], arch)  # the training stream's state after its last segment
    carry = supernet._carry[True].clone()
    assert carry.abs().sum() > 0
    params = ArchParams(space)
    kit = TextOneShot(LMOptions(8, 4, 10), 2)
    objective = SupernetObjective(supernet, params, None, task, Runtime("cpu"), second,
                                  forward=kit.forward)
    loss = objective.loss(params.sample(torch.Generator().manual_seed(0)))
    assert torch.equal(supernet._carry[True], carry)
    supernet.eval()
    with torch.no_grad():
        expected = task.loss(supernet.step(second[0], None, params.to_arch(
            params.sample(torch.Generator().manual_seed(0))))[0], second[1])
    assert loss == pytest.approx(float(expected), rel=1e-6)


def test_a_seed_fixes_the_search_dropout_included_and_another_changes_it(space, data):
    state = torch.get_rng_state()
    a = search(space, "snas", random_state=3).fit(data)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global state is kept
    b = search(space, "snas", random_state=3).fit(data)
    c = search(space, "snas", random_state=4).fit(data)
    assert torch.equal(a.params_.alpha, b.params_.alpha)
    assert a.history_[0]["train_loss"] == b.history_[0]["train_loss"]
    assert not torch.equal(a.params_.alpha, c.params_.alpha)


@pytest.mark.parametrize("controller", ["darts", "sf"])
def test_resume_after_a_kill_gives_the_same_alpha_and_pick(space, data, controller, tmp_path,
                                                           monkeypatch):
    whole, resumed = killed_and_resumed(partial(search, space, controller), data, tmp_path,
                                        monkeypatch)
    assert torch.equal(resumed.params_.alpha, whole.params_.alpha)
    assert resumed.best_arch_ == whole.best_arch_
    assert untimed(resumed.history_) == untimed(whole.history_)


def test_nao_ws_runs_darts_on_the_recurrent_cell_and_refuses_pool_options(capsys):
    argv = ["ws", "--space", "enas-rnn:nodes=3", "--controller", "darts", "--data",
            "standin-text", "--train-size", "2000", "--hidden", "8", "--batch-size", "8",
            "--bptt", "10", "--epochs", "1", "--threads", "1", "--quiet", "--json"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    result = json.loads(out)
    assert result["controller"] == "darts" and result["metric"] == "perplexity"
    assert result["pool_size"] is None and result["options"]["arch_lr"] > 0
    code, _, err = run_cli(capsys, *argv, "--pool-size", "4")
    assert code == 2 and "--controller darts has no pool" in err


def test_every_parameter_is_kept_as_given_and_the_defaults_are_the_text_tasks(space, tmp_path):
    from pipelines.oneshot import relaxed_search as rs

    given = {"epochs": 3, "hidden": 9, "batch_size": 7, "bptt": 11, "dropouts": {"x": 0.1},
             "eval_batches": 2, "lr_max": 3.0, "lr_min": 0.5, "weight_decay": 1e-3,
             "grad_clip": 0.5, "controller_options": {"tau": 2.0}, "device": "cpu",
             "threads": 1, "random_state": 5, "out_dir": tmp_path, "resume": True,
             "progress": False}
    kept = LMRelaxedSearch(space, "sf", **given)
    assert kept.controller == "sf" and kept.space is space and kept.momentum == 0.0
    assert {name: getattr(kept, name) for name in given} == given
    default = LMRelaxedSearch(space)
    assert (default.controller, default.epochs, default.lr_max, default.lr_min,
            default.batch_size) == ("darts", 10, rs.LM_LR, rs.LM_LR_MIN, rs.LM_BATCH_SIZE)
    assert (default.device, default.threads, default.random_state, default.out_dir,
            default.resume, default.progress, default.dropouts) == (
        "auto", None, 0, None, False, True, None)
    assert (default.weight_decay, default.grad_clip, default.hidden, default.bptt) == (
        rs.LM_WEIGHT_DECAY, rs.LM_GRAD_CLIP, rs.LM_HIDDEN, rs.BPTT)


@pytest.mark.parametrize("controller", ["darts", "sf"])
def test_the_search_scores_alpha_through_the_text_kits_forward(space, data, controller,
                                                               monkeypatch):
    calls = []
    kits_forward = TextOneShot.forward

    def recorded(supernet, x, choice):
        calls.append(x.shape)
        return kits_forward(supernet, x, choice)

    monkeypatch.setattr(TextOneShot, "forward", staticmethod(recorded))
    search(space, controller).fit(data)
    assert calls  # the alpha steps' validation segments, from a zero state, carry untouched
