"""The vault: encrypted values keyed by token, in SQLite (WAL).

Every batch costs a constant number of statements whatever its size (seed 002's discipline):
one bulk lookup through `json_each`, and one transaction with one prepared insert.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Mapping


class SqliteVault:
    """token -> (nonce, ciphertext). Safe to share between the server's worker threads."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # One connection behind a lock: statements are short and bulk, so serialising them
        # costs little and keeps SQLite's single-writer rule out of the request path.
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS vault ("
                " token TEXT PRIMARY KEY,"
                " nonce BLOB NOT NULL,"
                " ciphertext BLOB NOT NULL"
                ") WITHOUT ROWID"
            )
        os.chmod(self.path, 0o600)

    def get_many(self, tokens: Iterable[str]) -> dict[str, tuple[bytes, bytes]]:
        """The stored (nonce, ciphertext) of each token that is in the vault, in one statement."""
        wanted = json.dumps(list(tokens))
        with self._lock:
            rows = self._connection.execute(
                "SELECT token, nonce, ciphertext FROM vault"
                " WHERE token IN (SELECT value FROM json_each(?))",
                (wanted,),
            ).fetchall()
        return {token: (nonce, ciphertext) for token, nonce, ciphertext in rows}

    def put_many(self, entries: Mapping[str, tuple[bytes, bytes]]) -> None:
        """Stores entries whose token is new, in one transaction; an existing token is kept."""
        if not entries:
            return
        rows = [(token, nonce, ciphertext) for token, (nonce, ciphertext) in entries.items()]
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany(
                    "INSERT OR IGNORE INTO vault (token, nonce, ciphertext) VALUES (?, ?, ?)", rows
                )
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT count(*) FROM vault").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
