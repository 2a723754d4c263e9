"""The statuses of files and manifests and the moves between them (the pipeline's flow, plus the
way back that retries and `reset-stuck` need). Every state change goes through `check_move`,
so an illegal move is refused the same way by both stores and by the operations tool."""

from __future__ import annotations

PENDING, MANIFESTED, PROCESSING = "pending", "manifested", "processing"
COMPLETED, FAILED, QUARANTINED = "completed", "failed", "quarantined"
DUPLICATE, DROPPED, SEEN = "duplicate", "dropped", "seen"
FILE_STATUSES = (PENDING, MANIFESTED, PROCESSING, COMPLETED, FAILED, QUARANTINED, DUPLICATE)
MANIFEST_STATUSES = (MANIFESTED, PROCESSING, COMPLETED, FAILED, DROPPED)

# Why each way back exists: manifested -> pending drops a manifest that will not run (its files
# are batched again); processing -> manifested is reset-stuck (the run died); failed -> processing
# is a retry and failed -> pending re-batches; quarantined -> pending releases a file an operator
# fixed; completed -> processing is an explicit re-run, which replaces the manifest's output.
# A duplicate (its content was tracked before, under another name) is released to pending by an
# operator who wants it ingested anyway. A manifest whose files go back to pending is dropped.
FILE_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({PENDING, QUARANTINED, DUPLICATE}),
    PENDING: frozenset({MANIFESTED, QUARANTINED}),
    MANIFESTED: frozenset({PROCESSING, PENDING}),
    PROCESSING: frozenset({COMPLETED, FAILED, MANIFESTED}),
    FAILED: frozenset({PROCESSING, MANIFESTED, PENDING}),
    QUARANTINED: frozenset({PENDING}),
    DUPLICATE: frozenset({PENDING}),
    COMPLETED: frozenset({PROCESSING}),
}
MANIFEST_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({MANIFESTED}),
    MANIFESTED: frozenset({PROCESSING, DROPPED}),
    PROCESSING: frozenset({COMPLETED, FAILED, MANIFESTED}),
    FAILED: frozenset({PROCESSING, MANIFESTED, DROPPED}),
    COMPLETED: frozenset({PROCESSING}),
}
# A content hash seen by `track`: recorded once, by the first file with that content.
CONTENT_MOVES: dict[str | None, frozenset[str]] = {None: frozenset({SEEN})}
MOVES = {"file": FILE_MOVES, "manifest": MANIFEST_MOVES, "content": CONTENT_MOVES}
STATUSES = {"file": FILE_STATUSES, "manifest": MANIFEST_STATUSES, "content": (SEEN,)}


class StateError(Exception):
    """Base of the state errors; messages name keys and statuses only, never data."""


class IllegalTransition(StateError):
    pass


class StateConflict(StateError):
    """Someone else changed the record between our read and our conditional write."""


class NotTracked(StateError):
    pass


def check_move(kind: str, key: str, current: str | None, target: str) -> None:
    moves = MOVES[kind]
    statuses = STATUSES[kind]
    if target not in statuses:
        raise IllegalTransition(f"{target!r} is not a {kind} status; the statuses are {', '.join(statuses)}")
    if target not in moves.get(current, frozenset()):
        allowed = ", ".join(sorted(moves.get(current, frozenset()))) or "none (it is final)"
        raise IllegalTransition(f"{kind} {key} is {current or 'not tracked'}; {current or 'untracked'} -> {target} "
                                f"is not allowed (allowed from {current}: {allowed})")
