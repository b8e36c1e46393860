"""The search store keeps every evaluation as it was made, and the run's configuration."""

from __future__ import annotations

import sqlite3

import pytest

from pipelines.search.store import Store, config_difference, key_text


def test_evaluations_come_back_whole_and_in_the_order_they_were_made(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    made = [((3, 1), "b", 0.5, 0.4, {"params": 12, "train_loss": 0.25}),
            ((1, 2), "a", 0.75, None, {}),
            ("zz", "c", 0.125, 0.1, {"valid_ppl": 80.5})]
    assert [store.add(*m) for m in made] == [0, 1, 2]  # 0-based query numbers
    store.close()
    again = Store(tmp_path / "s.sqlite")  # what a resumed run reads
    got = again.evaluations()
    assert list(got) == [key_text(m[0]) for m in made]  # insertion order, not key order
    for (key, arch, valid, test, info), (query, ev) in zip(made, enumerate(got.values()),
                                                           strict=True):
        assert (ev.query, ev.key, ev.arch, ev.valid, ev.test, ev.info) == \
            (query, key_text(key), arch, valid, test, info)
    assert len(again) == 3


def test_a_key_is_stored_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add((1,), "a", 0.5, 0.5)
    with pytest.raises(sqlite3.IntegrityError):
        store.add((1,), "a", 0.6, 0.6)
    assert len(store) == 1 and store.evaluations()[key_text((1,))].valid == 0.5


def test_the_configuration_is_kept_and_only_the_budget_may_change_on_resume(tmp_path):
    config = {"space": "nasbench-graph:cora", "strategy": "random", "seed": 1, "budget": 10}
    Store.open_run(tmp_path, config, resume=False).close()
    store = Store.open_run(tmp_path, {**config, "budget": 20}, resume=True)
    assert store.get_meta("config") == config
    assert config_difference(config, {**config, "budget": 5}) == []
    assert config_difference(config, {**config, "seed": 2, "extra": 1}) == ["extra", "seed"]
