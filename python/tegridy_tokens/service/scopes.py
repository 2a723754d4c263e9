"""Token scopes: a scope is a name, and each scope's tokens come from its own key, so two datasets
tokenized in two scopes cannot be joined on their tokens (docs/security.md, "Scopes and erasure").

    scope key = HKDF-SHA-256(IKM = token key, salt = none, info = "tegridy-scope-v1:" + scope name, L = 32)

The default scope's key is the token key itself, so its tokens are the ones made before scopes
existed. A default-format token of another scope carries its scope, "tgr_<scope>.<43 characters>":
a default-scope token never holds a ".", so the two cannot be confused, and detokenize reads the
scope from the token. A format-preserving token has no room for a tag: the call names its scope,
and its vault entry sits under "fmt:<format>@<scope>:<token>" ("fmt:<format>:<token>" in the
default scope), so a token looked up under another scope is not found.
"""

from __future__ import annotations

import re
from typing import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigurationError, InvalidRequest

DEFAULT_SCOPE = "default"
TOKEN_PREFIX = "tgr_"
DEFAULT_FORMAT = "default"
SCOPE_INFO = b"tegridy-scope-v1:"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
NAME_RULE = "1 to 63 characters: lowercase letters, digits, '_' and '-', starting with a letter or digit"
ALL_SCOPES = "*"


def check_scope(scope: object, where: str = "scope") -> str:
    """The scope a request names (None: the default scope), or InvalidRequest naming the rule."""
    if scope is None:
        return DEFAULT_SCOPE
    if not isinstance(scope, str) or not _NAME.fullmatch(scope):
        shown = type(scope).__name__ if not isinstance(scope, str) else f"{len(scope)} character(s)"
        raise InvalidRequest(f"'{where}' must be a scope name of {NAME_RULE} (got {shown})")
    return scope


def is_scope_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def derive_scope_key(token_key: bytes, scope: str) -> bytes:
    """The key of `scope`'s tokens: the token key itself for the default scope, else HKDF (RFC 5869)."""
    if scope == DEFAULT_SCOPE:
        return token_key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=SCOPE_INFO + scope.encode("ascii")).derive(token_key)


def scope_of_token(token: str) -> str | None:
    """The scope a default-format token carries (untagged: the default scope); None if it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    dot = token.find(".")
    return DEFAULT_SCOPE if dot < 0 else token[len(TOKEN_PREFIX):dot]


def vault_key(token: str, fmt: str | None, scope: str = DEFAULT_SCOPE) -> str:
    """Where a token's sealed value lives: a default-format token under itself (its tag holds its
    scope), a format-preserving one namespaced by its format and, outside the default scope, its scope."""
    if fmt in (None, DEFAULT_FORMAT):
        return token
    return f"fmt:{fmt}:{token}" if scope == DEFAULT_SCOPE else f"fmt:{fmt}@{scope}:{token}"


def is_entry_key(key: str) -> bool:
    """Whether a vault key is a token's entry (never the keyring record, whose key starts with '#')."""
    return key.startswith(TOKEN_PREFIX) or key.startswith("fmt:")


def parse_scopes(listed: str | Iterable[str] | None, where: str) -> frozenset[str] | None:
    """The scopes a detokenize principal or function may read: None (not set) is the default scope
    only, so an existing principals file or function never gains a new scope; "*" is every scope
    (returned as None). A comma-separated string or a list of names."""
    if listed is None:
        return frozenset({DEFAULT_SCOPE})
    names = [n.strip() for n in listed.split(",")] if isinstance(listed, str) else list(listed)
    names = [n for n in names if n]
    if ALL_SCOPES in names:
        return None
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(f"{where}: {name!r} is not a scope name ({NAME_RULE}), or '*' for every scope")
    if not names:
        raise ConfigurationError(f"{where} lists no scope; name at least one (e.g. default), or '*' for every scope")
    return frozenset(names)
