"""The reference tokenization service: the Lambda handler and its core (tokens, keyring, vaults),
the local server, and erasure. The local server's names load on first use, so that importing the handler
never pulls in aiohttp (which the Lambda package does not carry)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["lambda_handler", "local_service", "LocalService", "open_engine", "erase", "ErasureReport"]

_WHERE = {"lambda_handler": ".handler", "local_service": ".local", "LocalService": ".local", "open_engine": ".config",
          "erase": ".erasure", "ErasureReport": ".erasure"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
