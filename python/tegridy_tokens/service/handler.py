"""The Lambda handler: the seeds' wire protocol, byte-compatible, deployable to AWS Lambda as is
(handler setting: tegridy_tokens.service.handler.lambda_handler).

    tokenize:   {"requests": [{"data": "v1"}, ...]}
             -> {"responses": [{"success": true, "token": "t1", "data": "v1"},
                               {"success": false, "error": "...", "retryable": true}, ...]}
                same length and order; `retryable` marks items the vault did not store in time
    detokenize: {"tokens": ["t1", ...]} -> {"tokens": {"t1": "v1", ...}}   absent = not found

Format-preserving tokens (formats.py): a tokenize item may carry "format" ({"data": "v1",
"format": "ssn"}); a detokenize request may carry a parallel "formats" list, and is then answered
{"values": ["v1", null, ...]} (same length and order, null = not found), since one token string
could stand for different values under two formats. Without them, the bytes are the seeds'.

Scopes (scopes.py): a tokenize or detokenize event may carry a top-level "scope" (absent: the
default scope). A default-format token carries its own scope; a format token is looked up in the
event's. A detokenize that reaches a scope the caller may not read is refused whole (AccessDenied)
before the vault is read. Erased tokens are answered in an "erased" list, present only when one
is: the erased tokens beside "tokens", or their indices beside "values".

The same functions also answer Amazon Redshift's Lambda-UDF JSON (redshift.py), so that an
engine with spark.tegridy.protocol=redshift, or Redshift itself, can call them.

Settings come from the environment: TEGRIDY_VAULT, TEGRIDY_OPERATIONS (default tokenize),
TEGRIDY_KEYRING (file keyrings only), TEGRIDY_SCOPES (the scopes a detokenize function may read:
comma-separated names or "*"; unset: the default scope only), TEGRIDY_AUDIT_KEY (base64: links the audit lines and HMACs
detokenized tokens). The handler never creates keys: without them every request fails with
KeysNotReady, naming `tegridy-tokens keys init`. Every invocation prints its audit line (audit.py)
to stdout, CloudWatch Logs, before it stores or answers anything (invocation.py); if it cannot,
the request fails and nothing is stored. An invocation with more items than its answer could
hold is refused before any vault call (MAX_ITEMS). It imports only the standard library,
`cryptography`, and boto3 when a DynamoDB vault or KMS asks.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from typing import Any

from .audit import KEY_VARIABLE, AuditLog, decode_key
from .config import Settings, build_engine, parse_operations
from .errors import AccessDenied, InvalidRequest, ServiceError
from .invocation import Caller, run_audited
from .keyring import DETOKENIZE, TOKENIZE
from .redshift import answered as redshift_answered
from .redshift import handle_redshift, is_redshift_event, redshift_shape, refusal
from .retry import Deadline
from .scopes import DEFAULT_FORMAT, DEFAULT_SCOPE, check_scope, is_scope_name, parse_scopes, scope_of_token
from .tokens import TOKEN_CHARS, BeforeStore, TokenEngine

__all__ = ["lambda_handler", "handle_event", "event_shape", "InvalidRequest", "AccessDenied", "MAX_ITEMS"]

# Lambda's synchronous response limit, in bytes.
MAX_RESPONSE_BYTES = 6_291_556


def _most_items(smallest_answer: str) -> int:
    """How many items an answer can hold when each is its smallest: the longest default token
    and an empty value. A batch above it cannot be answered, whatever it holds."""
    return MAX_RESPONSE_BYTES // len(smallest_answer.encode("ascii"))


_TOKEN = "t" * TOKEN_CHARS
# Per answer shape: tokenize {"success":true,"token":T,"data":""}, detokenize "T":"", Redshift "T".
MAX_ITEMS = {TOKENIZE: _most_items(json.dumps({"success": True, "token": _TOKEN, "data": ""}, separators=(",", ":")) + ","),
             DETOKENIZE: _most_items(f'"{_TOKEN}":"",'),
             "redshift": _most_items(f'"{_TOKEN}",')}


def _within_limit(count: int, kind: str) -> None:
    if count > MAX_ITEMS[kind]:
        raise InvalidRequest(f"{count} items in one invocation, over the limit of {MAX_ITEMS[kind]} for {kind}: its "
                             "answer could not fit in Lambda's 6 MB response. Send smaller batches "
                             "(spark.tegridy.batch.maxRows)")


def _allowed(engine: TokenEngine, operation: str) -> None:
    if operation not in engine.operations:
        raise AccessDenied(f"this function serves TEGRIDY_OPERATIONS={','.join(sorted(engine.operations))}; "
                           f"{operation} is not allowed here. Call the {operation} function, or change that setting")


def event_scopes(event: Any, serves: frozenset[str] = frozenset()) -> list[str]:
    """The scopes an event asks for, by name (for the audit and the scope check); never a value."""
    if not isinstance(event, dict):
        return []
    if is_redshift_event(event):
        if redshift_shape(event, serves)[0] != DETOKENIZE:
            return [DEFAULT_SCOPE]
        rows = event["arguments"] if isinstance(event["arguments"], list) else []
        return _scopes_of([row[0] if isinstance(row, list) and row else None for row in rows], None, DEFAULT_SCOPE)
    try:
        scope = check_scope(event.get("scope"))
    except InvalidRequest:
        return []
    if isinstance(event.get("requests"), list):
        return [scope]
    if isinstance(event.get("tokens"), list):
        formats = event.get("formats") if isinstance(event.get("formats"), list) else None
        return _scopes_of(event["tokens"], formats, scope)
    return []


def _scopes_of(tokens: list, formats: list | None, scope: str) -> list[str]:
    """The scope of each token: its tag for a default-format token, else `scope` (the call's)."""
    found = set()
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            continue
        fmt = formats[i] if formats is not None and i < len(formats) else None
        if fmt not in (None, DEFAULT_FORMAT):
            found.add(scope)
            continue
        tag = scope_of_token(token)
        if tag is not None and is_scope_name(tag):  # a malformed tag is no token: not found, never named
            found.add(tag)
    return sorted(found)


def detokenize_scopes_from_environment(environ: Any = os.environ) -> frozenset[str] | None:
    """TEGRIDY_SCOPES: the scopes a detokenize function may read (None: every scope)."""
    return parse_scopes(environ.get("TEGRIDY_SCOPES") or None, "TEGRIDY_SCOPES")


def _check_scopes(event: Any, serves: frozenset[str], allowed: frozenset[str] | None) -> None:
    """AccessDenied, before any vault read, for a detokenize reaching a scope not in `allowed`."""
    if allowed is None:
        return
    refused = [scope for scope in event_scopes(event, serves) if scope not in allowed]
    if refused:
        raise AccessDenied(f"this caller may detokenize the scope(s) {', '.join(sorted(allowed))}; the request reaches "
                           f"{', '.join(refused)}. Ask for detokenize authority over it (the principals file's "
                           "detokenize_scopes, or the function's TEGRIDY_SCOPES)")


def handle_event(engine: TokenEngine, event: Any, deadline: Deadline | None = None,
                 before_store: BeforeStore | None = None, scopes: frozenset[str] | None = None) -> dict[str, Any]:
    """The answer to one event. `before_store(n)` runs before a tokenize first reads or writes
    the vault (the audit's line: invocation.py); nothing is stored if it raises. `scopes`: the
    scopes this caller may detokenize (None: every scope)."""
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    if is_redshift_event(event):
        rows = event["arguments"]
        if isinstance(rows, list) and len(rows) > MAX_ITEMS["redshift"]:
            return refusal(f"{len(rows)} rows in one invocation, over the limit of {MAX_ITEMS['redshift']}: the answer "
                           "could not fit in Lambda's 6 MB response")
        if redshift_shape(event, engine.operations)[0] == DETOKENIZE:
            _check_scopes(event, engine.operations, scopes)
        return handle_redshift(engine, event, deadline, before_store)
    scope = check_scope(event.get("scope"))
    if "requests" in event:
        _allowed(engine, TOKENIZE)
        requests = event["requests"]
        if not isinstance(requests, list):
            raise InvalidRequest("'requests' must be a list of {\"data\": string} objects")
        _within_limit(len(requests), TOKENIZE)
        plain = _plain_values(requests)
        if plain is not None:  # the hot path: strings, no format; no per-item result objects
            tokens = engine.tokenize_plain(plain, deadline, before_store, scope)
            if tokens is not None:
                return {"responses": [{"success": True, "token": token, "data": value}
                                      for token, value in zip(tokens, plain)]}
        values = [item.get("data") if isinstance(item, dict) else None for item in requests]
        formats = [item.get("format") if isinstance(item, dict) else None for item in requests]
        responses = []
        results = engine.tokenize(values, deadline, formats if any(f is not None for f in formats) else None,
                                  before_store, scope=scope)
        for value, result in zip(values, results):
            if result.token is not None:
                responses.append({"success": True, "token": result.token, "data": value})
            elif result.retryable or result.permanent:
                responses.append({"success": False, "error": result.error, "retryable": result.retryable})
            else:
                responses.append({"success": False, "error": result.error})
        return {"responses": responses}
    if "tokens" in event:
        _allowed(engine, DETOKENIZE)
        tokens = event["tokens"]
        if not isinstance(tokens, list):
            raise InvalidRequest("'tokens' must be a list of strings")
        _within_limit(len(tokens), DETOKENIZE)
        _check_scopes(event, engine.operations, scopes)
        errors = [{"index": i, "error": f"tokens[{i}] must be a string, got {type(token).__name__}"}
                  for i, token in enumerate(tokens) if not isinstance(token, str)]
        if "formats" in event:
            formats = event["formats"]
            if not isinstance(formats, list) or len(formats) != len(tokens):
                raise InvalidRequest("'formats' must be a list as long as 'tokens'")
            errors += [{"index": i, "error": f"formats[{i}] must be a string or null, got {type(fmt).__name__}"}
                       for i, fmt in enumerate(formats) if not (fmt is None or isinstance(fmt, str))]
            values, erased_at = engine.detokenize_formatted_status(tokens, formats, deadline, scope)
            answer: dict[str, Any] = {"values": values}
            if erased_at:
                answer["erased"] = erased_at
        else:
            found, erased = engine.detokenize_status(tokens, deadline)
            answer = {"tokens": found}
            if erased:  # only when a token was erased: otherwise the seeds' bytes
                answer["erased"] = sorted(erased)
        if errors:  # only for items that are not strings: a well-formed request keeps the seeds' bytes
            answer["errors"] = sorted(errors, key=lambda e: e["index"])
        return answer
    raise InvalidRequest("event must have a 'requests' list (tokenize), a 'tokens' list (detokenize), or Redshift's "
                         "'arguments' and 'num_records' (docs/protocols.md)")


def _plain_values(requests: list) -> list[str] | None:
    """The values of a batch whose items are all {"data": string} without a format, else None."""
    try:
        values = [item["data"] for item in requests]
    except (TypeError, KeyError):  # an item that is not an object, or has no data
        return None
    if all(type(value) is str for value in values) and not any("format" in item for item in requests):
        return values
    return None


_engine: TokenEngine | None = None
_engine_lock = threading.Lock()


def engine_from_environment() -> TokenEngine:
    """Built once per instance (KMS unwraps once). A failure is not kept: each request tries
    again, so an instance starts serving as soon as `keys init` has run."""
    global _engine
    with _engine_lock:
        if _engine is None:
            detokenize_scopes_from_environment()  # a bad TEGRIDY_SCOPES fails every request, audited, naming it
            _engine = build_engine(Settings.from_environment())
        return _engine


_audit: AuditLog | None = None


def _audit_log() -> AuditLog:
    """Stdout is CloudWatch Logs. The chain runs per instance: a random id names this instance's
    lines, whose `seq` then shows a gap. TEGRIDY_AUDIT_KEY (base64) links them and HMACs tokens;
    without it the lines carry no link, and `audit verify` refuses them."""
    global _audit
    with _engine_lock:
        if _audit is None:
            key = os.environ.get(KEY_VARIABLE)
            _audit = AuditLog(key=decode_key(key, KEY_VARIABLE) if key else None, instance=secrets.token_hex(8))
        return _audit


def _served_operations() -> frozenset[str]:
    """This function's operations for the audit line; a bad setting is reported by the engine, not here."""
    try:
        return parse_operations(os.environ.get("TEGRIDY_OPERATIONS"), frozenset({TOKENIZE}))
    except ServiceError:
        return frozenset()


def _served_scopes() -> frozenset[str]:
    """This function's detokenize scopes; a bad setting serves none (the engine reports it)."""
    try:
        allowed = detokenize_scopes_from_environment()
    except ServiceError:
        return frozenset()
    return allowed if allowed is not None else frozenset({"*"})


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point: the answer, after its audit line is on stdout (else AuditUnavailable,
    and nothing stored)."""
    arn = getattr(context, "invoked_function_arn", None) or "unknown"
    caller = Caller(request_id=getattr(context, "aws_request_id", None) or "unknown",
                    function=getattr(context, "function_name", None) or arn.split(":")[-1],
                    principal={"invoked_arn": arn, "kind": "lambda (match the request id with CloudTrail data events)"},
                    serves=_served_operations(), scopes=_served_scopes())
    return run_audited(engine_from_environment, event, Deadline.from_context(context), _audit_log(), caller)


def answered_count(operation: str, result: dict[str, Any] | None) -> int:
    """How many values a handler's result answered (a detokenize result is a map, or with formats a list)."""
    if result is None:
        return 0
    if "success" in result:  # a Redshift answer
        return redshift_answered(result)
    if operation == TOKENIZE:
        return sum(1 for r in result.get("responses", []) if r.get("success"))
    if operation == DETOKENIZE:
        return len(result["tokens"]) if "tokens" in result else sum(v is not None for v in result.get("values", []))
    return 0


def event_shape(event: Any, serves: frozenset[str] = frozenset()) -> tuple[str, int, list[str]]:
    """(operation, values requested, tokens) of an event; tokens for detokenize only; for the audit.
    `serves`: the operations of the function it was sent to (a Redshift request does not say)."""
    if is_redshift_event(event):
        return redshift_shape(event, serves)
    if isinstance(event, dict) and isinstance(event.get("requests"), list):
        return TOKENIZE, len(event["requests"]), []
    if isinstance(event, dict) and isinstance(event.get("tokens"), list):
        return DETOKENIZE, len(event["tokens"]), [t for t in event["tokens"] if isinstance(t, str)]
    return "unknown", 0, []
