"""Convergent tokens, and the sealed values behind them.

token = "tgr_" + base64url(HMAC-SHA-256(token_key, value)), 47 characters: the same value always
gives the same token (joins and caches on tokens stay correct, racing instances write the same
vault item), and the token reveals nothing without the key. The value is sealed to the keyring's
current public key (sealing.py); only the detokenize side's private keys open it.

A value with a format (ssn, credit_card, phone, email) gets a format-preserving token instead:
FF1 under a key per format derived from the token key (formats.py), convergent like the default
token. Its sealed value is stored under "fmt:<format>:<token>", so detokenizing needs only the
private keys, as for default tokens. FF1 is a cipher: whoever holds the token key (the tokenize
side) could reverse a format token without the vault; default tokens do not have that property.

Every token belongs to a scope (scopes.py): its key is derived from the token key and the scope's
name, and the default scope's is the token key, so its tokens are unchanged. An erased token's
entry is a tombstone (tombstones.py): detokenize reports it as erased, tokenize stores nothing over it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .errors import UnknownKeyring, VaultUnavailable
from .formats import FormatCipher, FormatError
from .keyring import DETOKENIZE, TOKENIZE, Keyring
from .retry import DEFAULT_BUDGET_S, Deadline
from .scopes import DEFAULT_FORMAT, DEFAULT_SCOPE, TOKEN_PREFIX, derive_scope_key, is_entry_key, vault_key
from .sealing import keyring_of, open_many, seal_many, version_of
from .tombstones import is_tombstone
from .vault import Vault

RETRY_LATER = "the vault did not store this item in time; retry it"
TOO_LARGE = "the value is too large for the vault's entries"
RESTORE_KEYRING = ("Restore the vault's keyring record (the #keyring item, or the SQLite vault's meta table) from "
                   "point-in-time recovery or a backup, with its keyring file or KMS keys; `tegridy-tokens keys status` "
                   "shows the keyring the vault holds now")
# Only this keyring's token key makes this token, so another keyring's entry under it was put there
# by something else (copied from another vault, or planted); the write never replaces it.
FOREIGN = ("the vault holds an entry under this token that another keyring sealed, and entries are never replaced; "
           "find where it came from in the vault's point-in-time recovery history, and remove it to tokenize this value")
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_TOKEN_CHARS = 43  # base64 of a 32-byte digest, its one "=" of padding dropped
TOKEN_CHARS = len(TOKEN_PREFIX) + _TOKEN_CHARS  # 47: the length of every default token
BeforeStore = Callable[[int], None]


@dataclass(frozen=True)
class TokenResult:
    """One item's outcome; `error` says why it failed and never repeats the value."""

    token: str | None = None
    error: str | None = None
    retryable: bool = False
    permanent: bool = False  # said so on the wire ("retryable": false), so the client does not retry it


class TokenEngine:
    """Tokenizes and detokenizes whole batches with a constant number of vault calls per chunk."""

    def __init__(self, keyring: Keyring, vault: Vault | None, operations: frozenset[str] = frozenset({TOKENIZE, DETOKENIZE}),
                 reload_keyring: Callable[[], Keyring] | None = None):
        self.keyring = keyring
        self.vault = vault  # None: stateless tokens (HMAC only), for benchmarks
        self.operations = frozenset(operations)
        self._reload_keyring = reload_keyring
        # Per scope: (token key, scope key, inner, outer SHA-256 states); remade if the token key changes.
        self._hmac_states: dict[str, tuple[bytes, bytes, Any, Any]] = {}

    def token_for(self, value: str, scope: str = DEFAULT_SCOPE) -> str:
        return self.tokens_for([value], scope)[0]

    def tokens_for(self, values: Sequence[str], scope: str = DEFAULT_SCOPE) -> list[str]:
        """The default token of each value in `scope` (scopes.py). HMAC-SHA-256 from the scope
        key's two padded SHA-256 states, computed once and copied per value: 0.7 µs a value
        against 2.0 µs for hmac.digest, which sets the key up again on every call (RFC 2104; the
        same bytes as hmac.new)."""
        inner, outer = self._pads(scope)
        encode = binascii.b2a_base64
        tag = "" if scope == DEFAULT_SCOPE else f"{scope}."
        prefix = TOKEN_PREFIX + tag
        tokens = []
        for value in values:
            state = inner.copy()
            state.update(value.encode("utf-8", "surrogatepass"))
            final = outer.copy()
            final.update(state.digest())
            tokens.append(prefix + encode(final.digest(), newline=False)[:_TOKEN_CHARS].translate(_URLSAFE)
                          .decode("ascii"))
        return tokens

    def scope_key(self, scope: str) -> bytes:
        return self._states(scope)[1]

    def _pads(self, scope: str) -> tuple[Any, Any]:
        states = self._states(scope)
        return states[2], states[3]

    def _states(self, scope: str) -> tuple[bytes, bytes, Any, Any]:
        token_key = self.keyring.token_key
        states = self._hmac_states.get(scope)
        if states is None or states[0] is not token_key:
            key = derive_scope_key(token_key, scope)
            block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
            states = (token_key, key, hashlib.sha256(bytes(b ^ 0x36 for b in block)),
                      hashlib.sha256(bytes(b ^ 0x5C for b in block)))
            self._hmac_states[scope] = states
        return states

    def format_cipher(self, fmt: str, scope: str = DEFAULT_SCOPE) -> FormatCipher:
        """FF1 under a key per format and scope (the default scope's: from the token key, as before scopes)."""
        key = hmac.new(self.scope_key(scope), b"tegridy-ff1:" + fmt.encode("ascii", "replace"), hashlib.sha256).digest()
        return FormatCipher(fmt, key)

    def tokenize(self, values: Sequence[object], deadline: Deadline | None = None,
                 formats: Sequence[object] | None = None, before_store: BeforeStore | None = None,
                 whole_batch: bool = False, scope: str = DEFAULT_SCOPE) -> list[TokenResult]:
        """One result per value, its token in `scope`. `before_store(n)` is called with the number of values given a
        token before the vault is first read or written (the audit's line); if it raises,
        nothing is stored. `whole_batch`: a batch with a refused value stores nothing (a protocol
        that fails the whole batch for one value, such as Redshift's)."""
        deadline = deadline or Deadline(DEFAULT_BUDGET_S)
        tokens: list[str | None] = []
        keys: list[str | None] = []
        refused: dict[int, str] = {}
        fresh: dict[str, str] = {}
        ciphers: dict[str, FormatCipher] = {}
        for i, value in enumerate(values):
            fmt = formats[i] if formats is not None else None
            if not isinstance(value, str) or not (fmt is None or isinstance(fmt, str)):
                tokens.append(None)
                keys.append(None)
                continue
            if fmt in (None, DEFAULT_FORMAT):
                token = self.token_for(value, scope)
            else:
                try:
                    cipher = ciphers.get(fmt) or ciphers.setdefault(fmt, self.format_cipher(fmt, scope))
                    token = cipher.tokenize(value)
                except FormatError as error:  # names the format and the rule, never the value
                    refused[i] = str(error)
                    tokens.append(None)
                    keys.append(None)
                    continue
            key = vault_key(token, fmt, scope)
            fresh.setdefault(key, value)
            tokens.append(token)
            keys.append(key)
        if whole_batch and any(t is None for t in tokens):
            fresh = {}
        failed, too_large, foreign = self._store(fresh, deadline, before_store, sum(t is not None for t in tokens))
        results = []
        for i, (value, token, key) in enumerate(zip(values, tokens, keys)):
            if i in refused:
                results.append(TokenResult(error=refused[i], permanent=True))
            elif token is None and isinstance(value, str):
                results.append(TokenResult(error=f"format must be a string, got {type(formats[i]).__name__}"))
            elif token is None:
                results.append(TokenResult(error=f"data must be a string, got {type(value).__name__}"))
            elif key in foreign:
                results.append(TokenResult(error=FOREIGN, permanent=True))
            elif key in too_large:
                results.append(TokenResult(error=TOO_LARGE))
            elif key in failed:
                results.append(TokenResult(error=RETRY_LATER, retryable=True))
            else:
                results.append(TokenResult(token=token))
        return results

    def tokenize_plain(self, values: Sequence[str], deadline: Deadline | None = None,
                       before_store: BeforeStore | None = None, scope: str = DEFAULT_SCOPE) -> list[str] | None:
        """The hot path for a batch of strings with no format: their tokens, vaulted, or None when
        any item failed (the caller then answers through `tokenize`, item by item; storing an
        entry twice is harmless). No per-item result objects. `before_store` as for `tokenize`."""
        tokens = self.tokens_for(values, scope)
        if self.vault is None:
            return tokens
        failed, too_large, foreign = self._store(dict(zip(tokens, values)), deadline or Deadline(DEFAULT_BUDGET_S),
                                                 before_store, len(tokens))
        return None if failed or too_large or foreign else tokens

    def _store(self, fresh: dict[str, str], deadline: Deadline, before_store: BeforeStore | None = None,
               answered: int = 0) -> tuple[set[str], set[str], set[str]]:
        """Seals and writes the entries (vault key -> value) the vault does not hold yet; returns
        (keys not stored in time, keys too large for the vault, keys whose entry is another keyring's).
        `before_store(answered)` first. An entry already there is kept if it is this keyring's (or
        says no keyring: written before entries recorded it); the vault writes only where no entry
        exists. An erased token's tombstone counts as its entry: the value is never stored again."""
        if self.vault is None or not fresh:
            return set(), set(), set()
        if before_store is not None:
            before_store(answered)
        # A token whose read failed is written anyway: the write never replaces an entry.
        known, _unread = self.vault.get_many(list(fresh), deadline)
        foreign = {token for token, sealed in known.items()
                   if not is_tombstone(sealed) and keyring_of(sealed) not in (None, self.keyring.keyring_id)}
        missing = {token: value for token, value in fresh.items() if token not in known}
        if not missing:
            return set(), set(), foreign
        sealed = seal_many(self.keyring.sealing_version, self.keyring.sealing_public_key, missing, self.keyring.keyring_id)
        limit = getattr(self.vault, "max_entry_bytes", None)
        too_large = {t for t, entry in sealed.items() if limit is not None and len(entry) + len(t) > limit}
        failed = self.vault.put_many({t: e for t, e in sealed.items() if t not in too_large}, deadline)
        return failed, too_large, foreign

    def detokenize_formatted(self, tokens: Sequence[object], formats: Sequence[object],
                             deadline: Deadline | None = None, scope: str = DEFAULT_SCOPE) -> list[str | None]:
        """One value (or None, not found or erased) per token, each looked up under its own format."""
        return self.detokenize_formatted_status(tokens, formats, deadline, scope)[0]

    def detokenize_formatted_status(self, tokens: Sequence[object], formats: Sequence[object],
                                    deadline: Deadline | None = None,
                                    scope: str = DEFAULT_SCOPE) -> tuple[list[str | None], list[int]]:
        """(one value or None per token, the indices of erased tokens). A format token is looked up
        in `scope`; a default-format token in the scope it carries."""
        keys = [vault_key(t, f, scope) if isinstance(t, str) and (f is None or isinstance(f, str)) else None
                for t, f in zip(tokens, formats)]
        found, erased = self.detokenize_status([k for k in keys if k is not None and is_entry_key(k)], deadline)
        return [found.get(k) if k is not None else None for k in keys], [i for i, k in enumerate(keys) if k in erased]

    def detokenize(self, tokens: Sequence[object], deadline: Deadline | None = None) -> dict[str, str]:
        """token -> value for every token found; a token absent from the result was not found or erased."""
        return self.detokenize_status(tokens, deadline)[0]

    def detokenize_status(self, tokens: Sequence[object], deadline: Deadline | None = None) -> tuple[dict[str, str], set[str]]:
        """(token -> value for every token found, the tokens erased); any other token was not found."""
        # Strings only, before dict.fromkeys: an object in the list is not hashable.
        wanted = list(dict.fromkeys(token for token in tokens if isinstance(token, str) and is_entry_key(token)))
        if self.vault is None or not wanted:
            return {}, set()
        found, unread = self.vault.get_many(wanted, deadline or Deadline(DEFAULT_BUDGET_S))
        if unread:
            # The protocol cannot say "retry this one": a whole-batch error, never a false "not found".
            raise VaultUnavailable(f"{len(unread)} of {len(wanted)} tokens could not be read from the vault in time; retry the batch")
        erased = {token for token, sealed in found.items() if is_tombstone(sealed)}
        found = {token: sealed for token, sealed in found.items() if token not in erased}
        versions = {version_of(sealed) for sealed in found.values()} - {None}
        if self._reload_keyring is not None and not versions <= set(self.keyring.opening_keys):
            # Sealed under a key rotated in after this instance loaded its keyring: load it again.
            self.keyring = self._reload_keyring()
        foreign = [named for named in map(keyring_of, found.values()) if named not in (None, self.keyring.keyring_id)]
        if foreign:
            # Never "not found": the entries exist, and the keyring that opens them is missing.
            raise UnknownKeyring(
                f"{len(foreign)} of {len(wanted)} tokens have vault entries sealed under keyring "
                f"{', '.join(sorted(set(foreign)))}, but {self.vault.url}'s keyring is {self.keyring.keyring_id}: that "
                f"keyring's record was lost or replaced. {RESTORE_KEYRING}")
        opened = open_many(self.keyring.opening_keys, found)
        if len(opened) < len(found):
            # An entry that is there but does not open is not "not found" either: a key version this
            # keyring lacks, another keyring's entry from before entries named theirs, or damage.
            raise UnknownKeyring(
                f"{len(found) - len(opened)} of {len(wanted)} tokens have vault entries that keyring "
                f"{self.keyring.keyring_id} of {self.vault.url} cannot open (a sealing key version it lacks, another "
                f"keyring's entries, or damaged entries). {RESTORE_KEYRING}")
        return opened, erased
