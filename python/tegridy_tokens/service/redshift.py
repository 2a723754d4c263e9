"""Amazon Redshift's Lambda-UDF JSON, as the reference handler speaks it (docs/protocols.md), so
that a Spark session with `spark.tegridy.protocol=redshift`, or Redshift itself, can call the
reference functions:

    {"request_id": "...", "cluster": "...", "user": "...", "database": "...",
     "external_function": "...", "query_id": 12, "num_records": 2, "arguments": [["v1"], ["v2"]]}
 -> {"success": true, "num_records": 2, "results": ["t1", "t2"]}
 -> {"success": false, "error_msg": "..."}   the whole batch failed (Redshift has no per-row error)

A row is [value] or [value, format]; a null value gives a null result. Detokenize answers null
for a token not found. A value the engine refuses fails the batch with `success: false` (the
caller bisects), and nothing of that batch is stored; a value the vault did not store in time raises VaultUnavailable, an Unhandled
function error the caller retries. Which operation a request is for: the one this function
serves; a function that serves both goes by `external_function` (a name with "detokenize" in it
detokenizes). No message here ever holds a value or a token.
"""

from __future__ import annotations

from typing import Any

from .errors import AccessDenied, VaultUnavailable
from .keyring import DETOKENIZE, TOKENIZE
from .retry import Deadline
from .tokens import BeforeStore, TokenEngine


def is_redshift_event(event: Any) -> bool:
    """Redshift always sends both; the tegridy protocol never does."""
    return isinstance(event, dict) and "arguments" in event and "num_records" in event


def redshift_operation(event: dict[str, Any], serves: frozenset[str]) -> str:
    """The operation a Redshift request asks for (see the module's doc)."""
    if len(serves) == 1:
        return next(iter(serves))
    name = event.get("external_function")
    return DETOKENIZE if isinstance(name, str) and "detokenize" in name.lower() else TOKENIZE


def refusal(message: str) -> dict[str, Any]:
    return {"success": False, "error_msg": message}


def _rows(event: dict[str, Any]) -> tuple[list[Any], list[Any]] | str:
    """(first arguments, second arguments or None) of every row, or what is wrong with them."""
    rows = event.get("arguments")
    if not isinstance(rows, list):
        return "'arguments' must be a list with one [value] or [value, format] list per row"
    if event.get("num_records") != len(rows):
        return f"'num_records' is {event.get('num_records')!r} but 'arguments' has {len(rows)} rows"
    values, formats = [], []
    for i, row in enumerate(rows):
        if row is None:  # Redshift's NULL row
            values.append(None)
            formats.append(None)
            continue
        if not isinstance(row, list) or not 1 <= len(row) <= 2 or not all(a is None or isinstance(a, str) for a in row):
            return f"row {i} must be [value] or [value, format], strings or null"
        values.append(row[0])
        formats.append(row[1] if len(row) == 2 else None)
    return values, formats


def handle_redshift(engine: TokenEngine, event: dict[str, Any], deadline: Deadline | None,
                    before_store: BeforeStore | None = None) -> dict[str, Any]:
    operation = redshift_operation(event, engine.operations)
    if operation not in engine.operations:
        raise AccessDenied(f"this function serves TEGRIDY_OPERATIONS={','.join(sorted(engine.operations))}; "
                           f"{operation} is not allowed here. Call the {operation} function, or change that setting")
    parsed = _rows(event)
    if isinstance(parsed, str):
        return refusal(parsed)
    values, formats = parsed
    live = [i for i, value in enumerate(values) if value is not None]
    live_values = [values[i] for i in live]
    live_formats = [formats[i] for i in live] if any(formats[i] is not None for i in live) else None
    results: list[str | None] = [None] * len(values)
    if operation == TOKENIZE:
        outcomes = engine.tokenize(live_values, deadline, live_formats, before_store, whole_batch=True)
        late = sum(1 for outcome in outcomes if outcome.retryable)
        if late:
            raise VaultUnavailable(f"the vault did not store {late} value(s) in time; retry the batch")
        refused = [outcome.error for outcome in outcomes if outcome.token is None]
        if refused:
            return refusal(f"{len(refused)} of {len(live)} value(s) refused, e.g.: {refused[0]}")
        answers: list[str | None] = [outcome.token for outcome in outcomes]
    elif live_formats is not None:
        answers = engine.detokenize_formatted(live_values, live_formats, deadline)
    else:
        found = engine.detokenize(live_values, deadline)
        answers = [found.get(token) for token in live_values]
    for i, answer in zip(live, answers):
        results[i] = answer
    return {"success": True, "num_records": len(values), "results": results}


def redshift_shape(event: dict[str, Any], serves: frozenset[str]) -> tuple[str, int, list[str]]:
    """(operation, values requested, tokens) for the audit, as handler.event_shape gives for the tegridy shape."""
    operation = redshift_operation(event, serves)
    rows = event.get("arguments") if isinstance(event.get("arguments"), list) else []
    tokens = [row[0] for row in rows if isinstance(row, list) and row and isinstance(row[0], str)]
    return operation, len(rows), tokens if operation == DETOKENIZE else []


def answered(result: dict[str, Any]) -> int:
    """How many rows a Redshift answer answered."""
    return sum(1 for r in result.get("results") or [] if r is not None) if result.get("success") else 0
