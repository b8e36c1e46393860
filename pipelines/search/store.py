"""SQLite store: every evaluation is written the moment it exists.

A run directory holds ``store.sqlite``. ``--resume`` reopens it: the strategy is rebuilt from the
same seed and replays, and every architecture it asks for that the store already has is answered
from the store instead of being evaluated again.

A file offered for resume is checked read-only first (a SQLite file with exactly this store's
tables and a configuration row), so a damaged store or somebody else's database is refused with
one line and left byte for byte as it was.

A fresh store is made whole under a temporary name beside ``store.sqlite`` and renamed into place
only once its tables and configuration are written: a creation that fails (a full disk, a kill)
leaves no ``store.sqlite``, so the next fresh run starts as if nothing had happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from nao.errors import ConfigError

SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS evaluations (query INTEGER PRIMARY KEY, key TEXT UNIQUE,"
    " arch TEXT, valid REAL, test REAL, info TEXT, created REAL)",
)
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
TABLES = {
    "meta": ("name", "value"),
    "evaluations": ("query", "key", "arch", "valid", "test", "info", "created"),
}


@dataclass(frozen=True)
class StoredEvaluation:
    query: int
    key: str
    arch: str
    valid: float
    test: float | None
    info: dict


def key_text(key: Hashable) -> str:
    """Canonical keys as stable text (ints, tuples and strings all round-trip through repr)."""
    return repr(key)


def _not_a_store(path: Path, why: str) -> ConfigError:
    return ConfigError(f"--resume: {path} is not a search store ({why}); point --out at the "
                       "directory of an earlier nao search, or run without --resume")


def read_stored_config(path: Path) -> dict:
    """The configuration of the store at ``path``, checked without changing a byte of it or
    creating a file beside it; ConfigError unless it is a readable store of this project."""
    if not path.is_file():
        raise _not_a_store(path, "not a file")
    with open(path, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if not header:
        raise _not_a_store(path, "the file is empty")
    if header != SQLITE_HEADER:
        raise _not_a_store(path, "not a SQLite file")
    wal = path.with_name(path.name + "-wal")
    if not wal.exists():  # the file is the whole content: read it in place, without locks
        return _inspect(f"{path.resolve().as_uri()}?immutable=1", path)
    # a killed writer left a -wal: even a read-only reader rewrites the -shm index beside it,
    # so read a private copy of both instead
    with tempfile.TemporaryDirectory(prefix="nao-store-check-") as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(wal.name))
        return _inspect(f"{copy.as_uri()}?mode=ro", path)


def _inspect(uri: str, path: Path) -> dict:
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise _not_a_store(path, f"cannot open it: {exc}") from None
    try:
        return _check_schema(conn, path)
    except sqlite3.Error as exc:
        raise _not_a_store(path, f"damaged or truncated: {exc}") from None
    finally:
        conn.close()


def _check_schema(conn: sqlite3.Connection, path: Path) -> dict:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables != set(TABLES):
        found = ", ".join(sorted(tables)) or "none"
        raise _not_a_store(path, f"its tables are {found}, a store has meta and evaluations")
    for table, columns in TABLES.items():
        found = tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
        if found != columns:
            raise _not_a_store(path, f"table {table} has columns {', '.join(found)}")
    problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        # SQLite's report spans lines ("*** in database main ***\n..."): the error is one line
        raise _not_a_store(path, f"damaged: {' '.join(problems[0].split())}")
    row = conn.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
    try:
        config = json.loads(row[0]) if row is not None else None
    except (TypeError, ValueError):
        config = None
    if not isinstance(config, dict):
        raise _not_a_store(path, "it holds no search configuration")
    conn.execute("SELECT COUNT(*), MAX(query) FROM evaluations").fetchone()
    return config


def config_difference(saved: dict, config: dict) -> list[str]:
    """Options that differ between a stored and a requested run (the budget may change). A
    store that recorded the strategy's settings (every option, defaults included) is compared
    by them: options that come to the same settings are the same run, and the settings alone
    differing (an upgrade changed a default the options left open) is the caller's to warn
    about, not a reason to strand the stored evaluations."""
    ignore = {"budget", "settings"}
    if "settings" in saved and saved["settings"] == config.get("settings"):
        ignore.add("options")
    return sorted(k for k in set(saved) | set(config)
                  if k not in ignore and saved.get(k) != config.get(k))


class Store:
    """One search's evaluations and its configuration."""

    FILENAME = "store.sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit per statement
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            self.conn.execute(statement)

    @classmethod
    def create(cls, path: str | Path, config: dict) -> Store:
        """A new store at ``path`` holding ``config``, made under a temporary name beside it and
        renamed into place only when its tables and configuration are on disk. Whatever stops
        the creation (a full disk, an interrupt) removes the temporary file, so ``path`` is
        either absent or a whole store (a failed write is a ConfigError saying so). The caller
        holds the directory's lock."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.creating")
        _remove_database(tmp)  # left by a creation that was killed
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN")
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES (?, ?)", ("config", json.dumps(config)))
                conn.execute("COMMIT")
            finally:
                conn.close()
            os.replace(tmp, path)
            _sync_directory(path.parent)
        except BaseException as exc:
            _remove_database(tmp)
            if not isinstance(exc, OSError | sqlite3.Error):
                raise
            why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            raise ConfigError(f"--out {path.parent}: could not create its search store ({why}); "
                              "nothing was evaluated or left behind, so once the cause is fixed "
                              "(e.g. free some space) run the same command again") from exc
        return cls(path)

    @classmethod
    def check_can_open(cls, out_dir: str | Path, resume: bool) -> Path:
        """The store's path, if a fresh run would not overwrite one and a resumed run has one;
        cheap and side-effect free, so a command calls it before creating anything."""
        path = Path(out_dir) / cls.FILENAME
        if path.exists() and not resume:
            raise ConfigError(
                f"{path} already holds a search; pass --resume to continue it or choose a new --out"
            )
        if resume and not path.exists():
            raise ConfigError(f"--resume: no search to resume at {path}; run without --resume")
        return path

    @classmethod
    def open_run(cls, out_dir: str | Path, config: dict, resume: bool) -> Store:
        """Open ``out_dir``'s store; a fresh run refuses to overwrite one, a resumed run refuses
        anything but a store made with the same configuration (checked before any write)."""
        path = cls.check_can_open(out_dir, resume)
        if resume:
            saved = read_stored_config(path)
            diff = config_difference(saved, config)
            if diff:
                raise ConfigError(
                    f"--resume: {path} was made with different {', '.join(diff)} "
                    f"({', '.join(f'{k}={saved.get(k)!r}' for k in diff)}); use the same options"
                )
        return cls(path) if resume else cls.create(path, config)

    def get_meta(self, name: str):
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, name: str, value) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def add(self, key: Hashable, arch: str, valid: float, test: float | None,
            info: dict | None = None) -> int:
        """Record one evaluation durably; returns its 0-based query number."""
        cur = self.conn.execute(
            "INSERT INTO evaluations (key, arch, valid, test, info, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key_text(key), arch, valid, test, json.dumps(info or {}), time.time()),
        )
        return int(cur.lastrowid) - 1

    def evaluations(self) -> dict[str, StoredEvaluation]:
        """Every stored evaluation by key, in the order they were made."""
        rows = self.conn.execute(
            "SELECT query, key, arch, valid, test, info FROM evaluations ORDER BY query"
        ).fetchall()
        return {r[1]: StoredEvaluation(r[0] - 1, r[1], r[2], r[3], r[4], json.loads(r[5]))
                for r in rows}

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


def _remove_database(path: Path) -> None:
    """``path`` and the journal files SQLite keeps beside it, where they exist."""
    for name in ("", *SQLITE_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + name).unlink()


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
