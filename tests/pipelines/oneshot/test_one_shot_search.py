"""The one interface of ``nao ws``'s searches (pipelines/oneshot/one_shot_search.py): a family
written against it alone (here: one fixed child trained on the shared weights) gets the run,
the log, the checkpoint and an exact resume, on an image and on a text supernet, from
:meth:`OneShotSearch.fit`; its checks run before anything is built."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import killed_and_resumed, untimed

from nao.errors import ConfigError
from pipelines.oneshot.one_shot_search import OneShotRun, OneShotSearch
from pipelines.oneshot.one_shot_tasks import TextOneShot
from pipelines.training.data import load_data
from pipelines.training.lm_train import LMOptions, trim_train
from pipelines.training.text_data import load_text
from search_spaces import get_space

EPOCHS_OF_CALLS: list[int] = []


class FixedChildRun(OneShotRun):
    """Trains one child, drawn from the seed, on every minibatch; it is the pick."""

    def __init__(self, search, plan, data, kit, shared, seed):
        self.kit, self.shared = kit, shared
        self.arch = search.space.sample(np.random.default_rng(seed))
        self.scorer = kit.scorer(shared, data, torch.Generator().manual_seed(seed))
        self.begun = False

    def begin(self):
        self.begun = True

    def epoch(self, epoch, bar):
        EPOCHS_OF_CALLS.append(epoch)
        self.kit.start_epoch(self.shared.supernet)
        with bar() as minibatches:
            loss, metric = self.shared.train_epoch(lambda: self.arch, minibatches)
        return {"lr": self.shared.lr, "train_loss": loss}, {"loss": f"{loss:.3f}"}

    def pick(self):
        return self.kit.final_pick(self.scorer, [self.arch])

    def state_dict(self):
        return self.shared.state_dict()

    def load_state_dict(self, state):
        self.shared.load_state_dict(state)


class FixedChildSearch(OneShotSearch):
    checkpoint_keys = ("epoch", "supernet", "optimizer", "scheduler", "scaler", "train_gen",
                       "history", "wall_s")

    def __init__(self, space, *, epochs=2, channels=4, layers=1, stem_stride=1, batch_size=20,
                 eval_batches=1, lr_max=0.05, lr_min=0.0005, momentum=0.9, weight_decay=3e-4,
                 grad_clip=5.0, device="cpu", threads=1, random_state=0, out_dir=None,
                 resume=False, progress=False):
        self.space, self.controller, self.epochs = space, "fixed", epochs
        self.channels, self.layers, self.stem_stride = channels, layers, stem_stride
        self.batch_size, self.eval_batches = batch_size, eval_batches
        self.lr_max, self.lr_min, self.momentum = lr_max, lr_min, momentum
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        self.device, self.threads, self.random_state = device, threads, random_state
        self.out_dir, self.resume, self.progress = out_dir, resume, progress

    def check(self):
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        self.kit().require_space(self.space)
        return "plan"

    def _config(self, data, plan):
        assert plan == "plan"  # what check() gave
        return {"space": self.space.name, "seed": self.random_state, "epochs": self.epochs}

    def _start(self, plan, data, kit, shared, seed):
        return FixedChildRun(self, plan, data, kit, shared, seed)

    def _fitted(self, run):
        self.run_ = run


class TextFixedChildSearch(FixedChildSearch):
    momentum = 0.0

    def network(self):
        return LMOptions(8, self.batch_size, 10, {})

    def kit(self):
        return TextOneShot(self.network(), self.eval_batches)


@pytest.fixture(scope="module")
def image():
    return get_space("enas-micro"), load_data("standin:1x8x8", seed=0, train_size=60)


@pytest.fixture(scope="module")
def text():
    return get_space("enas-rnn:nodes=3"), trim_train(load_text("standin-text"), 2000)


def test_a_family_of_its_own_runs_through_the_one_fit_and_reports_nao_ws_keys(image):
    space, data = image
    EPOCHS_OF_CALLS.clear()
    s = FixedChildSearch(space, epochs=2).fit(data)
    assert EPOCHS_OF_CALLS == [0, 1] and s.run_.begun
    assert [row["epoch"] for row in s.history_] == [1, 2]
    assert s.best_arch_ == s.run_.arch and 0 <= s.best_valid_ <= 1
    out = s.result(data)
    assert out["best"]["arch"] == space.to_string(s.run_.arch) and out["pool_size"] is None
    assert {"space", "controller", "data", "seed", "epochs", "channels", "device", "best",
            "candidates", "history", "wall_s", "out"} <= set(out)


@pytest.mark.parametrize("task", ["image", "text"])
def test_the_one_fit_checkpoints_and_resumes_a_family_exactly(task, image, text, tmp_path,
                                                              monkeypatch):
    space, data = image if task == "image" else text
    cls = FixedChildSearch if task == "image" else TextFixedChildSearch

    def make(**options):
        return cls(space, batch_size=20 if task == "image" else 8, **options)

    whole, resumed = killed_and_resumed(make, data, tmp_path, monkeypatch)
    assert not resumed.run_.begun  # restored, not started afresh
    assert untimed(resumed.history_) == untimed(whole.history_)
    assert resumed.best_valid_ == whole.best_valid_


def test_its_checks_run_before_anything_is_built(image, monkeypatch):
    space, data = image
    built = []
    monkeypatch.setattr(FixedChildSearch, "_start", lambda *a: built.append(a))
    with pytest.raises(ConfigError, match="epochs must be at least 1, got 0"):
        FixedChildSearch(space, epochs=0).fit(data)
    with pytest.raises(ConfigError, match="supernet"):
        FixedChildSearch(get_space("nas-rl"), epochs=1).fit(data)
    assert built == []


def test_the_report_has_the_tasks_keys_and_where_it_ran(image, text, tmp_path):
    space, data = image
    s = FixedChildSearch(space, epochs=1, out_dir=tmp_path / "image").fit(data)
    out = s.result(data)
    assert out["device"] == "cpu" and out["out"] == str(tmp_path / "image")
    assert out["candidates"] == [{"arch": space.to_string(s.run_.arch), "valid": s.best_valid_}]
    assert "metric" not in out and out["wall_s"] == round(s.wall_s_, 3)
    assert FixedChildSearch(space, epochs=1).fit(data).result(data)["out"] is None
    space, data = text
    s = TextFixedChildSearch(space, epochs=1, batch_size=8).fit(data)
    out = s.result(data)
    assert out["metric"] == "perplexity" and out["best"]["valid_ppl"] == s.best_valid_ > 1


class PoolSized(FixedChildSearch):
    pool_size = 7


def test_a_family_with_a_pool_reports_its_size_and_one_without_reports_none(image):
    space, data = image
    assert PoolSized(space, epochs=1).fit(data).result(data)["pool_size"] == 7


class ReadsValidation(FixedChildSearch):
    valid_batches = True


def test_a_family_that_reads_validation_minibatches_is_refused_a_split_too_small(image):
    space, _ = image
    data = load_data("standin:1x8x8", seed=0, train_size=300)
    assert len(data.train) >= 250 > len(data.valid)  # a training minibatch, no validation one
    assert FixedChildSearch(space, epochs=1, batch_size=250).fit(data).best_arch_ is not None
    with pytest.raises(ConfigError, match="validation images; lower --batch-size"):
        ReadsValidation(space, epochs=1, batch_size=250).fit(data)


def test_no_seed_is_seed_0_and_another_seed_another_run(image):
    space, data = image
    unseeded = FixedChildSearch(space, epochs=1, random_state=None).fit(data)
    seeded = FixedChildSearch(space, epochs=1, random_state=0).fit(data)
    other = FixedChildSearch(space, epochs=1, random_state=5).fit(data)
    assert untimed(unseeded.history_) == untimed(seeded.history_)
    assert untimed(other.history_) != untimed(seeded.history_)


def test_a_checkpoint_that_does_not_fit_is_refused_naming_nao_ws(image, tmp_path):
    space, data = image
    FixedChildSearch(space, epochs=1, out_dir=tmp_path).fit(data)
    with pytest.raises(ConfigError, match="nao ws"):  # another network's weights
        FixedChildSearch(space, epochs=1, channels=6, out_dir=tmp_path, resume=True).fit(data)


def test_the_run_takes_torchs_threads_it_was_given(image, monkeypatch):
    space, data = image
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # nothing re-made for real
    FixedChildSearch(space, epochs=1, threads=3).fit(data)
    assert calls == [3]
