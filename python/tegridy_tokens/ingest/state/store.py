"""The state table's logic, common to both backends: records of files and manifests, each with
a status, a version for conditional writes and its history (the timeline); and the lock.
A backend only stores items (`_insert`, `_replace` if the version matches, `_get`, `_scan`) and
implements the lock's conditional write; every rule lives here."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

from .machine import NotTracked, StateConflict, check_move

Record = dict[str, Any]


class StateStore:
    url: str

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock

    # ---- what a backend implements -------------------------------------------------------
    def _insert(self, kind: str, key: str, record: Record) -> bool: raise NotImplementedError
    def _replace(self, kind: str, key: str, record: Record, expected_version: int) -> bool: raise NotImplementedError
    def _get(self, kind: str, key: str) -> Record | None: raise NotImplementedError
    def _get_many(self, kind: str, keys: list[str]) -> dict[str, Record]: raise NotImplementedError
    def _scan(self, kind: str, status: str | None) -> Iterator[Record]: raise NotImplementedError
    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool: raise NotImplementedError
    def release_lock(self, name: str, owner: str) -> bool: raise NotImplementedError
    def lock_holder(self, name: str) -> dict | None: raise NotImplementedError
    def close(self) -> None: pass

    # ---- records ---------------------------------------------------------------------------
    def create(self, kind: str, key: str, status: str, reason: str | None = None, **fields: Any) -> Record | None:
        """A new record in `status`; None when the key is already tracked (another tracker won)."""
        check_move(kind, key, None, status)
        now = self.clock()
        record = {**fields, "key": key, "status": status, "version": 1, "created_at": now, "updated_at": now,
                  "reason": reason, "history": [_event(status, now, reason)]}
        return record if self._insert(kind, key, record) else None

    def get(self, kind: str, key: str) -> Record | None:
        return self._get(kind, key)

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Record]:
        keys = list(dict.fromkeys(keys))
        return self._get_many(kind, keys) if keys else {}

    def scan(self, kind: str, status: str | None = None) -> list[Record]:
        return sorted(self._scan(kind, status), key=lambda r: (r["created_at"], r["key"]))

    def move(self, kind: str, key: str, target: str, expect: str | Iterable[str] | None = None,
             reason: str | None = None, expect_fields: dict[str, Any] | None = None, **fields: Any) -> Record:
        """Moves one record to `target` if the move is legal, the record is (one of) `expect` and
        has `expect_fields` (e.g. still our claim); a conditional write on its version, so two
        writers never both win."""
        record = self._get(kind, key)
        if record is None:
            raise NotTracked(f"{kind} {key} is not in the state table")
        if expect is not None:
            allowed = {expect} if isinstance(expect, str) else set(expect)
            if record["status"] not in allowed:
                raise StateConflict(f"{kind} {key} is {record['status']}, expected {' or '.join(sorted(allowed))}")
        _check_fields(kind, key, record, expect_fields)
        check_move(kind, key, record["status"], target)
        now = self.clock()
        updated = {**record, **fields, "status": target, "version": record["version"] + 1, "updated_at": now,
                   "reason": reason, "history": record["history"] + [_event(target, now, reason)]}
        if not self._replace(kind, key, updated, record["version"]):
            raise StateConflict(f"{kind} {key} changed while being moved to {target}; read it again")
        return updated

    def update_fields(self, kind: str, key: str, expect: dict[str, Any] | None = None, **fields: Any) -> Record:
        """Changes fields other than the status (e.g. a claim's lease) if the record has `expect`."""
        record = self._get(kind, key)
        if record is None:
            raise NotTracked(f"{kind} {key} is not in the state table")
        _check_fields(kind, key, record, expect)
        updated = {**record, **fields, "version": record["version"] + 1, "updated_at": self.clock()}
        if not self._replace(kind, key, updated, record["version"]):
            raise StateConflict(f"{kind} {key} changed while being updated; read it again")
        return updated


def _check_fields(kind: str, key: str, record: Record, expect: dict[str, Any] | None) -> None:
    changed = sorted(name for name, value in (expect or {}).items() if record.get(name) != value)
    if changed:
        raise StateConflict(f"{kind} {key} has changed ({', '.join(changed)}); another runner or an operator moved it")


def _event(status: str, at: float, reason: str | None) -> dict:
    event = {"status": status, "at": at}
    if reason:
        event["reason"] = reason
    return event
