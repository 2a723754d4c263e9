"""The state table in SQLite, the embedded default (`sqlite:///path`, default
`<output>/_state.db`). WAL and a busy timeout let several processes on one machine share it;
conditional writes are `UPDATE ... WHERE version = ?` and the lock an upsert guarded by its
expiry, both single statements, so SQLite's own locking makes them atomic."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Callable, Iterator

from .store import Record, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
    updated_at REAL NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS items_by_status ON items (kind, status, updated_at);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);
"""


class SqliteStateStore(StateStore):
    def __init__(self, path: str, clock: Callable[[], float] = time.time):
        super().__init__(clock)
        self.path = os.path.abspath(path)
        self.url = "sqlite://" + self.path
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Autocommit: every statement is its own transaction, which is all the conditional writes need.
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _insert(self, kind: str, key: str, record: Record) -> bool:
        cursor = self.db.execute("INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, ?, ?)",
                                 (kind, key, record["status"], record["version"], record["updated_at"], json.dumps(record)))
        return cursor.rowcount == 1

    def _replace(self, kind: str, key: str, record: Record, expected_version: int) -> bool:
        cursor = self.db.execute(
            "UPDATE items SET status = ?, version = ?, updated_at = ?, body = ? WHERE kind = ? AND key = ? AND version = ?",
            (record["status"], record["version"], record["updated_at"], json.dumps(record), kind, key, expected_version))
        return cursor.rowcount == 1

    def _get(self, kind: str, key: str) -> Record | None:
        row = self.db.execute("SELECT body FROM items WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def _get_many(self, kind: str, keys: list[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for (body,) in self.db.execute(f"SELECT body FROM items WHERE kind = ? AND key IN ({marks})", (kind, *chunk)):
                record = json.loads(body)
                found[record["key"]] = record
        return found

    def _scan(self, kind: str, status: str | None) -> Iterator[Record]:
        if status is None:
            rows = self.db.execute("SELECT body FROM items WHERE kind = ?", (kind,)).fetchall()
        else:
            rows = self.db.execute("SELECT body FROM items WHERE kind = ? AND status = ?", (kind, status)).fetchall()
        return (json.loads(body) for (body,) in rows)

    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        now = self.clock()
        cursor = self.db.execute(
            "INSERT INTO locks VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at WHERE locks.expires_at <= ? OR locks.owner = excluded.owner",
            (name, owner, now + ttl_s, now))
        return cursor.rowcount == 1

    def release_lock(self, name: str, owner: str) -> bool:
        return self.db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner)).rowcount == 1

    def lock_holder(self, name: str) -> dict | None:
        row = self.db.execute("SELECT owner, expires_at FROM locks WHERE name = ?", (name,)).fetchone()
        return {"owner": row[0], "expires_at": row[1]} if row else None
