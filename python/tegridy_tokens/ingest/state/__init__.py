"""The state table: `open_state(url)` for `sqlite:///path` or `dynamodb://TABLE`, the statuses
and the transition rules (`machine`), and the errors."""

from __future__ import annotations

from .machine import (COMPLETED, DROPPED, DUPLICATE, FAILED, FILE_STATUSES, MANIFEST_STATUSES, MANIFESTED, PENDING,
                      PROCESSING, QUARANTINED, SEEN, IllegalTransition, NotTracked, StateConflict, StateError)
from .store import Record, StateStore

__all__ = ["open_state", "StateStore", "Record", "StateError", "IllegalTransition", "StateConflict", "NotTracked",
           "PENDING", "MANIFESTED", "PROCESSING", "COMPLETED", "FAILED", "QUARANTINED", "DUPLICATE", "DROPPED", "SEEN",
           "FILE_STATUSES", "MANIFEST_STATUSES"]


def open_state(url: str, **options) -> StateStore:
    if url.startswith("sqlite://"):
        from .sqlite_store import SqliteStateStore

        return SqliteStateStore(url[len("sqlite://"):], **options)
    if url.startswith("dynamodb://"):
        from .dynamodb_store import DynamoDbStateStore

        return DynamoDbStateStore(url[len("dynamodb://"):], **options)
    raise ValueError(f"state {url!r}: write sqlite:///path/to/state.db or dynamodb://TABLE")
