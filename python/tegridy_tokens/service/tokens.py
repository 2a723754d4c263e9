"""Convergent tokens and the encrypted values behind them.

token = "tgr_" + base64url(HMAC-SHA-256(hmac_key, value)), 47 characters: the same value always gives the
same token (joins and caches on tokens stay correct), and the token reveals nothing without the
key. The value is kept AES-256-GCM-encrypted in the vault, with the token as associated data so
that a ciphertext cannot be moved to another token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Protocol, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keyring import Keyring

TOKEN_PREFIX = "tgr_"


class Vault(Protocol):
    def get_many(self, tokens: Sequence[str]) -> dict[str, tuple[bytes, bytes]]: ...
    def put_many(self, entries: dict[str, tuple[bytes, bytes]]) -> None: ...


@dataclass(frozen=True)
class TokenResult:
    """One item's outcome; `error` says why it failed and never repeats the value."""

    token: str | None = None
    error: str | None = None


class TokenEngine:
    """Tokenizes and detokenizes whole batches with a constant number of vault calls."""

    def __init__(self, keyring: Keyring, vault: Vault | None):
        self._hmac_key = keyring.hmac_key
        self._aead = AESGCM(keyring.aes_key)
        self._vault = vault  # None: stateless tokens (HMAC only), for benchmarks

    def token_for(self, value: str) -> str:
        digest = hmac.new(self._hmac_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def tokenize(self, values: Sequence[object]) -> list[TokenResult]:
        results: list[TokenResult] = []
        fresh: dict[str, str] = {}
        for value in values:
            if not isinstance(value, str):
                results.append(TokenResult(error=f"data must be a string, got {type(value).__name__}"))
                continue
            token = self.token_for(value)
            fresh.setdefault(token, value)
            results.append(TokenResult(token=token))
        if self._vault is not None and fresh:
            known = self._vault.get_many(list(fresh))
            missing = {token: value for token, value in fresh.items() if token not in known}
            self._vault.put_many({token: self._encrypt(token, value) for token, value in missing.items()})
        return results

    def detokenize(self, tokens: Sequence[object]) -> dict[str, str]:
        """token -> value for every token found; a token absent from the result was not found."""
        wanted = [token for token in dict.fromkeys(tokens) if isinstance(token, str) and token.startswith(TOKEN_PREFIX)]
        if self._vault is None or not wanted:
            return {}
        found: dict[str, str] = {}
        for token, (nonce, ciphertext) in self._vault.get_many(wanted).items():
            value = self._decrypt(token, nonce, ciphertext)
            if value is not None:
                found[token] = value
        return found

    def _encrypt(self, token: str, value: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"), token.encode("ascii"))

    def _decrypt(self, token: str, nonce: bytes, ciphertext: bytes) -> str | None:
        try:
            return self._aead.decrypt(nonce, ciphertext, token.encode("ascii")).decode("utf-8", "surrogatepass")
        except InvalidTag:
            return None  # a tampered or foreign entry reads as not found, never as a wrong value
