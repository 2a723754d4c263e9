"""The Lambda handler: the seeds' wire protocol, byte-compatible, deployable to AWS Lambda as is.

    tokenize:   {"requests": [{"data": "v1"}, ...]}
             -> {"responses": [{"success": true, "token": "t1", "data": "v1"},
                               {"success": false, "error": "..."}, ...]}   same length and order
    detokenize: {"tokens": ["t1", ...]} -> {"tokens": {"t1": "v1", ...}}   absent = not found

On AWS the handler reads TEGRIDY_VAULT and TEGRIDY_KEYRING (paths) from its environment; the
local server builds its own engine and calls `handle_event`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .keyring import load_or_create
from .tokens import TokenEngine
from .vault import SqliteVault


class InvalidRequest(ValueError):
    """The event is not one of the protocol's two shapes. Messages never quote the payload."""


def handle_event(engine: TokenEngine, event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    if "requests" in event:
        requests = event["requests"]
        if not isinstance(requests, list):
            raise InvalidRequest("'requests' must be a list of {\"data\": string} objects")
        values = [item.get("data") if isinstance(item, dict) else None for item in requests]
        responses = []
        for value, result in zip(values, engine.tokenize(values)):
            if result.token is not None:
                responses.append({"success": True, "token": result.token, "data": value})
            else:
                responses.append({"success": False, "error": result.error})
        return {"responses": responses}
    if "tokens" in event:
        tokens = event["tokens"]
        if not isinstance(tokens, list):
            raise InvalidRequest("'tokens' must be a list of strings")
        return {"tokens": engine.detokenize(tokens)}
    raise InvalidRequest("event must have a 'requests' list (tokenize) or a 'tokens' list (detokenize)")


_engine: TokenEngine | None = None
_engine_lock = threading.Lock()


def _engine_from_environment() -> TokenEngine:
    global _engine
    with _engine_lock:
        if _engine is None:
            home = os.environ.get("TEGRIDY_HOME", "/tmp/tegridy")
            vault = SqliteVault(os.environ.get("TEGRIDY_VAULT", os.path.join(home, "vault.db")))
            keyring = load_or_create(os.environ.get("TEGRIDY_KEYRING", os.path.join(home, "keyring.json")))
            _engine = TokenEngine(keyring, vault)
        return _engine


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (handler setting: tegridy_tokens.service.handler.lambda_handler)."""
    return handle_event(_engine_from_environment(), event)
