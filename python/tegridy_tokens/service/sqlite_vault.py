"""The embedded vault: sealed values keyed by token, and the keyring record, in one SQLite file (WAL).

Every batch costs a constant number of statements whatever its size (seed 002's discipline):
one bulk lookup through `json_each`, and one transaction with one prepared insert.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from .retry import Deadline


class SqliteVault:
    """token -> sealed value. Safe to share between the server's worker threads, and between
    worker processes (each its own connection; WAL; one transaction per write)."""

    # The server's handler threads for this vault: SQLite works on this machine's CPU and its
    # calls are serialised below, so more threads only fight over the GIL (measured: 32 threads
    # cost a third more CPU per value than 2-4). Remote vaults keep the server's default.
    handler_threads = 4

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.url = f"sqlite://{self.path.resolve()}"
        self.operations = 0
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # SQLite gives the -wal and -shm files the mode of the database file, so the file is
        # made 0600 before SQLite first opens it (and the companions are fixed if they exist).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        for companion in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if companion.exists():
                os.chmod(companion, 0o600)
        # One connection behind a lock: statements are short and bulk, so serialising them
        # costs little and keeps SQLite's single-writer rule out of the request path.
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        # Group commit: batches that arrive while another is being written wait for the lock and
        # are then written together, in one transaction (a commit's cost is per page, not per row).
        self._pending: list[_Write] = []
        self._pending_lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            # Tokens are random keys: each new one lands on its own B-tree page, so a batch dirties
            # about a page a value. A 64 MB page cache keeps those pages in memory, and a WAL
            # checkpointed every 32 MB instead of 4 MB copies a page rewritten by several batches
            # back once (per connection; the file's format is unchanged).
            self._connection.execute("PRAGMA cache_size=-65536")
            self._connection.execute("PRAGMA wal_autocheckpoint=8192")
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS entries (token TEXT PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID")
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, revision INTEGER NOT NULL, document TEXT NOT NULL)")

    def get_many(self, tokens: Iterable[str], deadline: Deadline | None = None) -> tuple[dict[str, bytes], set[str]]:
        """The sealed value of each token in the vault, in one statement; nothing ever fails alone."""
        wanted = json.dumps(list(tokens))
        with self._lock:
            self.operations += 1
            rows = self._connection.execute(
                "SELECT token, sealed FROM entries WHERE token IN (SELECT value FROM json_each(?))", (wanted,)
            ).fetchall()
        return dict(rows), set()

    def put_many(self, entries: Mapping[str, bytes], deadline: Deadline | None = None) -> set[str]:
        """Stores entries whose token is new, in one transaction; an existing token is kept."""
        if not entries:
            return set()
        write = _Write(entries)
        with self._pending_lock:
            self._pending.append(write)
        with self._lock:
            if not write.done:  # no other thread wrote it while this one waited: write all that waits
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._write(group)
        if write.error is not None:
            raise write.error
        return set()

    def _write(self, group: list[_Write]) -> None:
        self.operations += 1
        rows = sorted(item for write in group for item in write.entries.items())
        error: BaseException | None = None
        try:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                # In key order: neighbouring keys share pages, which stay hot between inserts.
                self._connection.executemany("INSERT OR IGNORE INTO entries (token, sealed) VALUES (?, ?)", rows)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        except BaseException as failure:  # every batch of the group fails with it
            error = failure
        for write in group:
            write.error, write.done = error, True

    def replace_many(self, entries: Mapping[str, bytes], deadline: Deadline | None = None) -> set[str]:
        """Writes each entry over its token's (erasure's tombstones), in one transaction."""
        if not entries:
            return set()
        with self._lock:
            self.operations += 1
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany("INSERT OR REPLACE INTO entries (token, sealed) VALUES (?, ?)",
                                             sorted(entries.items()))
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        return set()

    def get_meta(self, name: str) -> tuple[str, int] | None:
        with self._lock:
            row = self._connection.execute("SELECT document, revision FROM meta WHERE name = ?", (name,)).fetchone()
        return (row[0], row[1]) if row else None

    def put_meta(self, name: str, document: str, expected_revision: int | None) -> bool:
        """Writes the record if its revision is still `expected_revision` (None: if absent)."""
        with self._lock:
            if expected_revision is None:
                cursor = self._connection.execute(
                    "INSERT OR IGNORE INTO meta (name, revision, document) VALUES (?, 1, ?)", (name, document))
            else:
                cursor = self._connection.execute(
                    "UPDATE meta SET document = ?, revision = revision + 1 WHERE name = ? AND revision = ?",
                    (document, name, expected_revision))
            return cursor.rowcount == 1

    def sealed_entries(self) -> Iterator[bytes]:
        """Every entry's sealed value, a thousand rows per statement (never the whole vault in memory)."""
        after = ""
        while True:
            with self._lock:
                rows = self._connection.execute("SELECT token, sealed FROM entries WHERE token > ? ORDER BY token LIMIT 1000",
                                                (after,)).fetchall()
            if not rows:
                return
            yield from (sealed for _token, sealed in rows)
            after = rows[-1][0]

    def count(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT count(*) FROM entries").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _Write:
    """One put_many call waiting in a group commit."""

    __slots__ = ("entries", "done", "error")

    def __init__(self, entries: Mapping[str, bytes]):
        self.entries = entries
        self.done = False
        self.error: BaseException | None = None
