"""Weight-sharing search of a recurrent cell on text: every controller picks the pool member
with the lowest validation perplexity (re-measured with the shared weights), the minimised
metric reaches the strategies as a "higher is better" utility and the pool keeps the lowest
perplexities, and a killed run resumes to the uninterrupted result."""

from __future__ import annotations

import zlib
from functools import partial

import pytest
from support import killed_and_resumed

import pipelines.oneshot.one_shot_tasks as text_kit
from pipelines.oneshot.lm_weight_sharing import LMPoolScorer, LMWeightSharingSearch
from pipelines.training.task import REWARD_C, LanguageModeling
from pipelines.training.text_data import load_text
from search_spaces import get_space

NAO_FAST = {"nao_params": {"epochs": 5, "hidden_size": 16, "embedding_size": 8,
                           "mlp_hidden_size": 16}}


@pytest.fixture(scope="module")
def space():
    return get_space("enas-rnn:nodes=3")


@pytest.fixture(scope="module")
def data():
    return load_text("standin-text")


def search(space, controller, **kw):
    options = {"epochs": 1, "hidden": 8, "batch_size": 8, "bptt": 10, "pool_size": 4,
               "eval_batches": 2, "final_candidates": 3, "device": "cpu", "threads": 1,
               "progress": False,
               "controller_options": NAO_FAST if controller == "nao" else None, **kw}
    return LMWeightSharingSearch(space, controller, **options)


@pytest.mark.parametrize("controller", ["nao", "rl", "random"])
def test_the_pick_is_the_lowest_validation_perplexity_with_the_shared_weights(space, data,
                                                                                controller):
    s = search(space, controller).fit(data)
    out = s.result(data)
    ppls = [c["valid_ppl"] for c in out["candidates"]]
    assert out["best"]["valid_ppl"] == min(ppls) == ppls[0]
    task = LanguageModeling(data, seq_len=10)
    again = LMPoolScorer(s.supernet_, task, s.runtime_, None, None).perplexities([s.best_arch_])
    assert again[0] == pytest.approx(out["best"]["valid_ppl"], rel=1e-9)
    assert "valid" not in out["best"] and all("valid_ppl_best" in h for h in out["history"])


def fake_ppl(space, arch) -> float:
    """A perplexity fixed by the architecture alone, spread widely."""
    return 5.0 + zlib.crc32(space.to_string(arch).encode()) % 1000


def test_lower_perplexity_is_told_as_higher_utility_and_survives(space, data, monkeypatch):
    monkeypatch.setattr(LMPoolScorer, "perplexities",
                        lambda self, archs: [fake_ppl(space, a) for a in archs])
    told, finals = [], []
    real_make = LMWeightSharingSearch._make_controller

    def recording(self, policy, seed):
        strategy = real_make(self, policy, seed)
        real_tell = strategy.tell
        strategy.tell = lambda archs, scores: (told.append((list(archs), list(scores))),
                                               real_tell(archs, scores))
        return strategy

    real_pick = text_kit.lm_final_pick
    monkeypatch.setattr(LMWeightSharingSearch, "_make_controller", recording)
    monkeypatch.setattr(text_kit, "lm_final_pick",
                        lambda scorer, pool, k: finals.append(list(pool)) or
                        real_pick(scorer, pool, k))
    s = search(space, "random", pool_size=6, final_candidates=2).fit(data)
    (archs, scores), = told
    ppls = [fake_ppl(space, a) for a in archs]
    assert scores == [REWARD_C / p for p in ppls]  # decreasing in perplexity
    keep = sorted(archs, key=lambda a: fake_ppl(space, a))[:3]  # the better half survives
    assert finals[0][:3] == keep
    assert s.best_valid_ppl_ == min(fake_ppl(space, a) for a in finals[0])


def test_resume_after_a_kill_gives_the_uninterrupted_result(space, data, tmp_path, monkeypatch):
    whole, resumed = killed_and_resumed(partial(search, space, "nao"), data, tmp_path,
                                        monkeypatch)
    whole, out = whole.result(data), resumed.result(data)
    assert out["best"] == whole["best"]
    assert [h["train_loss"] for h in out["history"]] == [h["train_loss"]
                                                          for h in whole["history"]]


def test_each_epochs_log_names_the_lowest_perplexity_member(space, data, monkeypatch):
    calls: list[list] = []

    def perplexities(self, archs):
        calls.append(list(archs))
        return [fake_ppl(space, a) for a in archs]

    monkeypatch.setattr(LMPoolScorer, "perplexities", perplexities)
    row = search(space, "random", pool_size=5).fit(data).history_[0]
    pool = calls[0]  # the first scoring is the pool the epoch trained
    best = min(pool, key=lambda a: fake_ppl(space, a))
    assert row["best_arch"] == space.to_string(best)
    assert row["valid_ppl_best"] == fake_ppl(space, best)
    assert row["valid_ppl_mean"] == pytest.approx(sum(fake_ppl(space, a) for a in pool) / 5)
