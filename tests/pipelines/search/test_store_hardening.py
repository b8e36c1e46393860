"""`nao search` with a bad run directory or store: one line and exit 2 before any work, nothing
touched; a finished or longer stored search is read back and said so; an early stop says truly
what was kept."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest
from support import assert_one_line_error, read_only, run_cli

import pipelines.commands.search as search_command
from pipelines.search.evaluators import TableEvaluator
from pipelines.search.store import Store
from pipelines.strategies.base import Strategy
from pipelines.training.run_dir import RunDirLock

RANDOM = ["search", "--strategy", "random", "--seed", "3", "--quiet"]


def forbid_evaluation(monkeypatch) -> None:
    """Any evaluation fails the test: the error must come before the search starts."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the search started although the input is bad")

    monkeypatch.setattr(search_command, "run_search", refuse)
    monkeypatch.setattr(search_command, "result_from_store", refuse)


# ----- bad store files offered to --resume ----------------------------------------------------

def _sqlite_file(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _real_store_cut_short(path: Path) -> None:
    """A genuine store of 3000 evaluations with its second half cut off."""
    store = Store(path)
    store.set_meta("config", {"space": "nasbench-graph:cora"})
    store.conn.execute("BEGIN")
    store.conn.executemany(
        "INSERT INTO evaluations (key, arch, valid, test, info, created) VALUES (?, ?, ?, ?, ?, ?)",
        [(str(i), "0,0,0,0:gcn,gcn,gcn,gcn", 0.5, 0.5, "{}", 0.0) for i in range(3000)])
    store.conn.execute("COMMIT")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign_wal_left_by_a_killed_program(path: Path) -> None:
    """Another program's WAL database as its files are when it was killed: unmerged -wal."""
    scratch = path.parent / "scratch"
    scratch.mkdir()
    writer = sqlite3.connect(scratch / path.name)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE notes (body TEXT)")
    writer.execute("INSERT INTO notes VALUES ('only in the wal')")
    writer.commit()
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).write_bytes((scratch / name).read_bytes())
    writer.close()
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and
            p.name != ".lock"}


BAD_STORES = {
    "foreign WAL database left by a killed program": _foreign_wal_left_by_a_killed_program,
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(b"this is not a database\n" * 200),
    "sqlite header then garbage": lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000),
    "truncated": _real_store_cut_short,
    "foreign tables": lambda p: _sqlite_file(
        p, "CREATE TABLE users (id INTEGER, name TEXT)", "INSERT INTO users VALUES (1, 'ada')"),
    "foreign WAL database": lambda p: _sqlite_file(
        p, "PRAGMA journal_mode=WAL", "CREATE TABLE notes (body TEXT)",
        "INSERT INTO notes VALUES ('keep me')"),
    "no tables": lambda p: _sqlite_file(p, "PRAGMA user_version=7"),
    "store tables but no config": lambda p: _sqlite_file(
        p, "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)",
        "CREATE TABLE evaluations (query INTEGER PRIMARY KEY, key TEXT UNIQUE, arch TEXT,"
        " valid REAL, test REAL, info TEXT, created REAL)"),
    "store tables plus another": lambda p: _sqlite_file(
        p, "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)",
        "CREATE TABLE evaluations (query INTEGER PRIMARY KEY, key TEXT UNIQUE, arch TEXT,"
        " valid REAL, test REAL, info TEXT, created REAL)",
        "CREATE TABLE users (id INTEGER)", """INSERT INTO meta VALUES ('config', '{}')"""),
    "a directory": lambda p: p.mkdir(),
}


@pytest.mark.parametrize("kind", sorted(BAD_STORES))
def test_resume_refuses_a_file_that_is_not_a_store_and_leaves_it_byte_identical(
        tmp_path, capsys, monkeypatch, kind):
    path = tmp_path / Store.FILENAME
    BAD_STORES[kind](path)
    before = _files(tmp_path)  # the file, and any -wal / -shm beside it
    forbid_evaluation(monkeypatch)

    code, out, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path),
                             "--resume")

    assert out == ""
    assert_one_line_error(code, err, str(path), "not a search store", command="search")
    assert _files(tmp_path) == before  # byte-identical, and no -wal / -shm added


def test_fresh_run_over_an_existing_store_keeps_its_message_and_the_file(tmp_path, capsys,
                                                                        monkeypatch):
    BAD_STORES["foreign tables"](tmp_path / Store.FILENAME)
    before = (tmp_path / Store.FILENAME).read_bytes()
    forbid_evaluation(monkeypatch)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert_one_line_error(code, err, "already holds a search", "--resume", command="search")
    assert (tmp_path / Store.FILENAME).read_bytes() == before


def test_resume_with_other_options_touches_nothing(tmp_path, capsys):
    assert run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))[0] == 0
    before = (tmp_path / Store.FILENAME).read_bytes()
    code, _, err = run_cli(capsys, *RANDOM[:-3], "--seed", "4", "--quiet", "--budget", "5",
                           "--out", str(tmp_path), "--resume")
    assert_one_line_error(code, err, "different seed", command="search")
    assert (tmp_path / Store.FILENAME).read_bytes() == before
    assert not (tmp_path / f"{Store.FILENAME}-wal").exists()


def test_resume_of_a_missing_directory_creates_nothing(tmp_path, capsys, monkeypatch):
    forbid_evaluation(monkeypatch)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path / "typo"),
                           "--resume")
    assert_one_line_error(code, err, "no search to resume", command="search")
    assert not (tmp_path / "typo").exists()


# ----- the run directory ----------------------------------------------------------------------

def test_out_that_is_a_file_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    target = tmp_path / "results.txt"
    target.write_text("mine")
    forbid_evaluation(monkeypatch)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(target))
    assert_one_line_error(code, err, str(target), "not a directory", command="search")
    assert target.read_text() == "mine"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a Linux /sys")
def test_out_under_sys_is_one_line_before_any_work(capsys, monkeypatch):
    forbid_evaluation(monkeypatch)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", "/sys/kernel/nao-run")
    assert_one_line_error(code, err, "/sys/kernel/nao-run", "cannot write there", command="search")


def test_out_in_a_read_only_directory_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "kept.txt").write_text("mine")
    forbid_evaluation(monkeypatch)
    with read_only(locked):  # as root too, as CI runs
        code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(locked / "run"))
    assert_one_line_error(code, err, "cannot write there", command="search")
    assert [p.name for p in locked.iterdir()] == ["kept.txt"]
    assert (locked / "kept.txt").read_text() == "mine"


def test_a_second_search_on_a_held_directory_is_refused_at_start(tmp_path, capsys, monkeypatch):
    assert run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))[0] == 0
    before = (tmp_path / Store.FILENAME).read_bytes()
    forbid_evaluation(monkeypatch)
    with RunDirLock(tmp_path, "search"):  # what a running first search holds
        code, _, err = run_cli(capsys, *RANDOM, "--budget", "9", "--out", str(tmp_path),
                               "--resume")
    assert_one_line_error(code, err, f"another search is writing to {tmp_path}", command="search")
    assert (tmp_path / Store.FILENAME).read_bytes() == before


def test_the_lock_is_released_when_a_search_ends_even_on_error(tmp_path, capsys):
    code, _, _ = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert code == 0
    RunDirLock(tmp_path, "search").release()  # free after success
    code, _, _ = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert code == 2  # refused: the store exists
    RunDirLock(tmp_path, "search").release()  # and free after an error


class FullDiskOnConfig:
    """A SQLite connection whose write of the configuration row fails as a full disk does."""

    def __init__(self, conn: sqlite3.Connection, error: Exception):
        self._conn, self._error = conn, error

    def execute(self, sql: str, *args):
        if "INTO meta" in sql:
            raise self._error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    sqlite3.OperationalError("database or disk is full"),
], ids=["ENOSPC", "sqlite-full"])
def test_a_store_whose_creation_failed_leaves_nothing_that_blocks_the_next_run(
        tmp_path, capsys, monkeypatch, error):
    real_connect = sqlite3.connect
    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect",
                      lambda *a, **k: FullDiskOnConfig(real_connect(*a, **k), error))
        code, out, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert out == ""
    assert_one_line_error(code, err, str(tmp_path), "could not create its search store",
                          "run the same command again", command="search")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]  # no half-made store

    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path), "--resume")
    assert_one_line_error(code, err, "no search to resume", command="search")

    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert code == 0, err
    store = Store(tmp_path / Store.FILENAME)
    assert len(store) == 5 and store.get_meta("config")["budget"] == 5
    store.close()


def test_a_store_creation_killed_earlier_leaves_no_temporary_file_behind(tmp_path, capsys):
    leftover = tmp_path / f".{Store.FILENAME}.creating"
    leftover.write_bytes(b"half a database")  # a creation killed before its rename
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", "--out", str(tmp_path))
    assert code == 0, err
    assert not leftover.exists()
    assert len(Store(tmp_path / Store.FILENAME)) == 5


# ----- reading back what is stored ------------------------------------------------------------

def test_resume_of_a_finished_search_reads_the_store_and_runs_no_strategy(tmp_path, capsys,
                                                                         monkeypatch):
    args = [*RANDOM, "--budget", "14", "--json", "--out", str(tmp_path)]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    original = json.loads(out)

    def no_strategy(*_args, **_kwargs):
        raise AssertionError("a finished search replayed its strategy")

    monkeypatch.setattr(search_command, "run_search", no_strategy)
    monkeypatch.setattr(Strategy, "ask", no_strategy)
    code, out, err = run_cli(capsys, *args, "--resume")
    assert code == 0 and err == ""
    again = json.loads(out)
    # read back, it says so and gives the stored search's time as its own
    assert again.pop("read_back") is True and again.pop("searched_s") == again["wall_s"]
    assert again.pop("wall_s") >= original.pop("wall_s") > 0
    assert again == original


def test_resume_with_a_smaller_budget_says_it_reports_a_prefix(tmp_path, capsys):
    code, out, _ = run_cli(capsys, *RANDOM, "--json", "--budget", "20", "--out", str(tmp_path))
    assert code == 0
    full = json.loads(out)

    code, out, err = run_cli(capsys, *RANDOM, "--json", "--budget", "8", "--out", str(tmp_path),
                             "--resume")
    assert code == 0
    prefix = json.loads(out)
    assert prefix["queries"] == 8 and prefix["history"] == full["history"][:8]
    best = max(full["history"][:8], key=lambda h: h["valid"])
    assert prefix["best"]["arch"] == best["arch"]
    assert prefix["stored_queries"] == 20
    assert "first 8" in prefix["note"] and "--budget 20" in prefix["note"]
    assert err.startswith("nao search: note:") and "first 8" in err
    assert len(err.strip().splitlines()) == 1


def test_resume_with_the_stored_budget_carries_no_note(tmp_path, capsys):
    assert run_cli(capsys, *RANDOM, "--budget", "6", "--out", str(tmp_path))[0] == 0
    code, out, err = run_cli(capsys, *RANDOM, "--json", "--budget", "6", "--out", str(tmp_path),
                             "--resume")
    assert code == 0 and err == ""
    assert "note" not in json.loads(out) and "stored_queries" not in json.loads(out)


def test_budget_beyond_a_finite_space_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    forbid_evaluation(monkeypatch)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "1000000000", "--out",
                           str(tmp_path / "run"))
    assert_one_line_error(code, err, "26,206 architectures", "--budget 26206 or less",
                          command="search")
    assert not (tmp_path / "run").exists()


# ----- an early stop says truly what was kept -------------------------------------------------

class InterruptedEvaluator(TableEvaluator):
    """Ctrl-C arrives while the second batch is being evaluated."""

    def evaluate_many(self, archs):
        self.batches = getattr(self, "batches", 0) + 1
        if self.batches == 2:
            raise KeyboardInterrupt
        return super().evaluate_many(archs)


def test_ctrl_c_without_out_says_nothing_was_saved(capsys, monkeypatch):
    monkeypatch.setattr(search_command, "TableEvaluator", InterruptedEvaluator)
    code, out, err = run_cli(capsys, *RANDOM, "--budget", "20")
    assert code == 130 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "nothing was saved" in err and "--out" in err
    assert "in the store" not in err


def test_ctrl_c_with_out_names_the_directory_and_how_to_resume(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(search_command, "TableEvaluator", InterruptedEvaluator)
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "20", "--out", str(tmp_path))
    assert code == 130
    assert len(err.strip().splitlines()) == 1
    stored = len(Store(tmp_path / Store.FILENAME))
    assert 0 < stored < 20  # the first batch, written at once
    assert f"the {stored} evaluations so far are in {tmp_path / Store.FILENAME}" in err
    assert f"--out {tmp_path} --resume" in err


class StuckStrategy(Strategy):
    """Asks for a few architectures, then only for those again: the loop gives up."""

    def ask(self, n):
        return [self.space.from_string(s) for s in ("0,0,1,2:gcn,gat,gin,sage",
                                                    "0,0,0,0:gcn,gcn,gcn,gcn")]


@pytest.mark.parametrize("with_out", [False, True])
def test_a_stalled_search_says_where_its_evaluations_are(tmp_path, capsys, monkeypatch, with_out):
    monkeypatch.setattr(search_command, "make_strategy",
                        lambda name, space, **_: StuckStrategy(space))
    out_args = ["--out", str(tmp_path)] if with_out else []
    code, _, err = run_cli(capsys, *RANDOM, "--budget", "5", *out_args)
    assert_one_line_error(code, err, "already-evaluated architectures", command="search")
    if with_out:
        assert f"the 2 evaluations so far are in {tmp_path / Store.FILENAME}" in err
        assert "--resume --budget 2" in err
        code, out, _ = run_cli(capsys, *RANDOM, "--budget", "2", *out_args, "--resume", "--json")
        assert code == 0 and json.loads(out)["queries"] == 2  # the advice works
    else:
        assert "nothing was saved" in err
