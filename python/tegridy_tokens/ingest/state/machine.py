"""The statuses of files and manifests and the moves between them (seed 003's flow, plus the
way back that retries and `reset-stuck` need). Every state change goes through `check_move`,
so an illegal move is refused the same way by both stores and by the operations tool."""

from __future__ import annotations

PENDING, MANIFESTED, PROCESSING = "pending", "manifested", "processing"
COMPLETED, FAILED, QUARANTINED = "completed", "failed", "quarantined"
FILE_STATUSES = (PENDING, MANIFESTED, PROCESSING, COMPLETED, FAILED, QUARANTINED)
MANIFEST_STATUSES = (MANIFESTED, PROCESSING, COMPLETED, FAILED)

# Why each way back exists: manifested -> pending drops a manifest that will not run (its files
# are batched again); processing -> manifested is reset-stuck (the run died); failed -> processing
# is a retry and failed -> pending re-batches; quarantined -> pending releases a file an operator
# fixed; completed -> processing is an explicit re-run, which replaces the manifest's output.
FILE_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({PENDING, QUARANTINED}),
    PENDING: frozenset({MANIFESTED, QUARANTINED}),
    MANIFESTED: frozenset({PROCESSING, PENDING}),
    PROCESSING: frozenset({COMPLETED, FAILED, MANIFESTED}),
    FAILED: frozenset({PROCESSING, MANIFESTED, PENDING}),
    QUARANTINED: frozenset({PENDING}),
    COMPLETED: frozenset({PROCESSING}),
}
MANIFEST_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({MANIFESTED}),
    MANIFESTED: frozenset({PROCESSING}),
    PROCESSING: frozenset({COMPLETED, FAILED, MANIFESTED}),
    FAILED: frozenset({PROCESSING, MANIFESTED}),
    COMPLETED: frozenset({PROCESSING}),
}
MOVES = {"file": FILE_MOVES, "manifest": MANIFEST_MOVES}


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
    statuses = FILE_STATUSES if kind == "file" else MANIFEST_STATUSES
    if target not in statuses:
        raise IllegalTransition(f"{target!r} is not a {kind} status; the statuses are {', '.join(statuses)}")
    if target not in moves.get(current, frozenset()):
        allowed = ", ".join(sorted(moves.get(current, frozenset()))) or "none (it is final)"
        raise IllegalTransition(f"{kind} {key} is {current or 'not tracked'}; {current or 'untracked'} -> {target} "
                                f"is not allowed (allowed from {current}: {allowed})")
