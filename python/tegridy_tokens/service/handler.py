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

Settings come from the environment: TEGRIDY_VAULT, TEGRIDY_OPERATIONS (default tokenize),
TEGRIDY_KEYRING (file keyrings only). The handler never creates keys: without them every request
fails with KeysNotReady, naming `tegridy-tokens keys init`. It imports only the standard library,
`cryptography`, and boto3 when a DynamoDB vault or KMS asks for it.
"""

from __future__ import annotations

import threading
from typing import Any

from .config import Settings, build_engine
from .errors import AccessDenied, InvalidRequest
from .keyring import DETOKENIZE, TOKENIZE
from .retry import Deadline
from .tokens import TokenEngine

__all__ = ["lambda_handler", "handle_event", "InvalidRequest", "AccessDenied"]


def _allowed(engine: TokenEngine, operation: str) -> None:
    if operation not in engine.operations:
        raise AccessDenied(f"this function serves TEGRIDY_OPERATIONS={','.join(sorted(engine.operations))}; "
                           f"{operation} is not allowed here. Call the {operation} function, or change that setting")


def handle_event(engine: TokenEngine, event: Any, deadline: Deadline | None = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    if "requests" in event:
        _allowed(engine, TOKENIZE)
        requests = event["requests"]
        if not isinstance(requests, list):
            raise InvalidRequest("'requests' must be a list of {\"data\": string} objects")
        values = [item.get("data") if isinstance(item, dict) else None for item in requests]
        formats = [item.get("format") if isinstance(item, dict) else None for item in requests]
        responses = []
        results = engine.tokenize(values, deadline, formats if any(f is not None for f in formats) else None)
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
        if "formats" in event:
            formats = event["formats"]
            if not isinstance(formats, list) or len(formats) != len(tokens):
                raise InvalidRequest("'formats' must be a list as long as 'tokens'")
            return {"values": engine.detokenize_formatted(tokens, formats, deadline)}
        return {"tokens": engine.detokenize(tokens, deadline)}
    raise InvalidRequest("event must have a 'requests' list (tokenize) or a 'tokens' list (detokenize)")


_engine: TokenEngine | None = None
_engine_lock = threading.Lock()


def engine_from_environment() -> TokenEngine:
    """Built once per instance (KMS unwraps once). A failure is not kept: each request tries
    again, so an instance starts serving as soon as `keys init` has run."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = build_engine(Settings.from_environment())
        return _engine


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point."""
    return handle_event(engine_from_environment(), event, Deadline.from_context(context))
