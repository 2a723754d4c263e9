"""One invocation, audited and failing closed: the single path the Lambda handler and the local
server both take from an event to an answer.

The audit line comes before anything leaves: for tokenize it is written after the tokens are
computed and before the vault is read or written (a new value reaches the vault only once its
line is written); for detokenize, after the vault is read and before the answer is returned. If
the line cannot be written, AuditUnavailable is raised: nothing was stored, nothing is revealed.
A tokenize that fails, or stores fewer values than its line said, after that line, gets a second
line with the same request id saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .audit import AuditLog, AuditUnavailable
from .keyring import DETOKENIZE
from .retry import Deadline
from .tokens import TokenEngine


@dataclass(frozen=True)
class Caller:
    """Who and what an audit line names."""

    request_id: str
    function: str
    principal: dict[str, str]
    serves: frozenset[str]  # the operations of the function called (a Redshift request does not say)
    scopes: frozenset[str] = frozenset({"*"})  # the scopes it may detokenize; "*": every scope

    @property
    def detokenize_scopes(self) -> frozenset[str] | None:
        return None if "*" in self.scopes else self.scopes


def outcome_of(error: BaseException) -> str:
    """The audit's outcome for a failure: its Lambda error type where it has one, else its class."""
    return getattr(error, "error_type", None) or type(error).__name__


def run_audited(engine: Callable[[], TokenEngine], event: Any, deadline: Deadline | None, audit: AuditLog | None,
                caller: Caller, finish: Callable[[dict[str, Any]], Any] | None = None,
                written: list[str] | None = None) -> Any:
    """The handler's answer to `event` (through `finish`, e.g. the server's encoding and size
    check), once its audit line is written; the handler's error, audited; or AuditUnavailable.
    The lines written are appended to `written` (the server's log tail)."""
    from .handler import answered_count, event_scopes, event_shape, handle_event  # handler.py imports this module

    operation, requested, tokens = event_shape(event, caller.serves)
    scopes = event_scopes(event, caller.serves)
    role = event.get("role") if isinstance(event, dict) and isinstance(event.get("role"), str) else None
    early: list[int] = []  # the answered count a tokenize line recorded before storing

    def record(outcome: str, answered: int) -> None:
        if audit is not None:
            line = audit.record(request_id=caller.request_id, function=caller.function, operation=operation,
                                principal=caller.principal, requested=requested, answered=answered,
                                failed=requested - answered, outcome=outcome,
                                tokens=tokens if operation == DETOKENIZE else (), claimed_role=role, scopes=scopes)
            if written is not None:
                written.append(line)

    def before_store(answered: int) -> None:
        if not early:  # a batch retried item by item stores under the line already written
            record("ok", answered)
            early.append(answered)

    try:
        result = handle_event(engine(), event, deadline, before_store, caller.detokenize_scopes)
        answer = finish(result) if finish is not None else result
    except AuditUnavailable:
        raise
    except Exception as error:
        record(outcome_of(error), 0)  # raises AuditUnavailable instead, if the line cannot be written
        raise
    answered = answered_count(operation, result)
    if not early:
        record("ok", answered)
    elif early[0] != answered:
        record("stored in part", answered)
    return answer
