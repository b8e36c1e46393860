"""The search store keeps every evaluation as it was made, and the run's configuration."""

from __future__ import annotations

import sqlite3

import pytest

from nao.errors import ConfigError
from pipelines.search.store import Store, config_difference, key_text, read_stored_config


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


# ----- what a file offered for --resume is refused for ---------------------------------------
def _sqlite(path, *statements):
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _store_without_config(path):
    Store(path).close()


BAD_FILES = {
    "not a file": lambda p: p.mkdir(),
    "the file is empty": lambda p: p.write_bytes(b""),
    "not a SQLite file": lambda p: p.write_text("budget,seed\n"),
    "its tables are none, a store has meta and evaluations": lambda p: _sqlite(p, "VACUUM"),
    "its tables are other, things, a store has meta and evaluations": lambda p: _sqlite(
        p, "CREATE TABLE things (a)", "CREATE TABLE other (b)"),
    "table evaluations has columns query, key": lambda p: _sqlite(
        p, "CREATE TABLE meta (name, value)", "CREATE TABLE evaluations (query, key)"),
    "it holds no search configuration": _store_without_config,
    "damaged or truncated: ": lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x01" * 200),
}


@pytest.mark.parametrize("why", list(BAD_FILES))
def test_a_file_that_is_not_a_store_is_refused_in_one_line_saying_why(tmp_path, why):
    path = tmp_path / Store.FILENAME
    BAD_FILES[why](path)
    with pytest.raises(ConfigError) as info:
        read_stored_config(path)
    assert str(info.value).startswith(f"--resume: {path} is not a search store ({why}")
    assert str(info.value).endswith("); point --out at the directory of an earlier nao search, "
                                    "or run without --resume")
    assert "\n" not in str(info.value)


def test_a_configuration_that_is_not_a_mapping_is_no_configuration(tmp_path):
    store = Store(tmp_path / Store.FILENAME)
    store.set_meta("config", [1, 2])
    store.close()
    with pytest.raises(ConfigError, match=r"\(it holds no search configuration\)"):
        read_stored_config(tmp_path / Store.FILENAME)


def test_a_damaged_store_is_refused_in_one_line(tmp_path):
    path = tmp_path / Store.FILENAME
    store = Store.open_run(tmp_path, {"seed": 1}, resume=False)
    for i in range(300):
        store.add((i,), "x" * 50, 0.5, 0.5, {"i": i})
    store.close()
    good = path.read_bytes()
    for page in range(2, len(good) // 4096):  # zero a few bytes of one page after another
        bad = bytearray(good)
        bad[page * 4096 + 2000:page * 4096 + 2010] = bytes(10)
        path.write_bytes(bytes(bad))
        conn = sqlite3.connect(path)
        report = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
        if report != "ok":
            break
    else:
        pytest.skip("no page of this SQLite's layout broke the quick check")
    with pytest.raises(ConfigError) as info:
        read_stored_config(path)
    assert str(info.value).startswith(f"--resume: {path} is not a search store (damaged: "
                                      f"{' '.join(report.split())}); ")
    assert "\n" not in str(info.value)


def test_a_store_left_open_by_a_killed_writer_is_read_with_its_log(tmp_path):
    """The configuration is still in the -wal file beside the store: it must be read too."""
    store = Store.open_run(tmp_path, {"seed": 3}, resume=False)
    path = tmp_path / Store.FILENAME
    assert path.with_name(Store.FILENAME + "-wal").exists()
    assert read_stored_config(path) == {"seed": 3}
    store.close()


def test_resume_with_other_options_names_each_with_its_stored_value(tmp_path):
    config = {"space": "nasbench-graph:cora", "strategy": "random", "seed": 1}
    Store.open_run(tmp_path, config, resume=False).close()
    with pytest.raises(ConfigError) as info:
        Store.open_run(tmp_path, {**config, "seed": 2, "strategy": "rl"}, resume=True)
    assert str(info.value) == (f"--resume: {tmp_path / Store.FILENAME} was made with different "
                               "seed, strategy (seed=1, strategy='random'); use the same options")


def test_a_store_makes_its_directories_and_has_no_value_for_an_unknown_name(tmp_path):
    store = Store(tmp_path / "a" / "b" / Store.FILENAME)
    assert store.get_meta("nothing") is None
    store.set_meta("x", {"y": [1]})
    assert store.get_meta("x") == {"y": [1]}
