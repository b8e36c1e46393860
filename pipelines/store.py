"""SQLite store: every evaluation is written the moment it exists.

A run directory holds ``store.sqlite``. ``--resume`` reopens it: the strategy is rebuilt from the
same seed and replays, and every architecture it asks for that the store already has is answered
from the store instead of being evaluated again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from nao.errors import ConfigError


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


class Store:
    """One search's evaluations and its configuration."""

    FILENAME = "store.sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit per statement
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS evaluations (query INTEGER PRIMARY KEY, key TEXT UNIQUE,"
            " arch TEXT, valid REAL, test REAL, info TEXT, created REAL)"
        )

    @classmethod
    def open_run(cls, out_dir: str | Path, config: dict, resume: bool) -> Store:
        """Open ``out_dir``'s store; a fresh run refuses to overwrite one, a resumed run refuses
        a store made with another configuration."""
        path = Path(out_dir) / cls.FILENAME
        if path.exists() and not resume:
            raise ConfigError(
                f"{path} already holds a search; pass --resume to continue it or choose a new --out"
            )
        if resume and not path.exists():
            raise ConfigError(f"--resume: no search to resume at {path}; run without --resume")
        store = cls(path)
        saved = store.get_meta("config")
        if saved is None:
            store.set_meta("config", config)
        else:
            diff = sorted(k for k in set(saved) | set(config)
                          if k != "budget" and saved.get(k) != config.get(k))
            if diff:
                store.close()
                raise ConfigError(
                    f"--resume: {path} was made with different {', '.join(diff)} "
                    f"({', '.join(f'{k}={saved.get(k)!r}' for k in diff)}); use the same options"
                )
        return store

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
        rows = self.conn.execute(
            "SELECT query, key, arch, valid, test, info FROM evaluations ORDER BY query"
        ).fetchall()
        return {r[1]: StoredEvaluation(r[0] - 1, r[1], r[2], r[3], r[4], json.loads(r[5]))
                for r in rows}

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
