"""Sealing values to a public key, so that only the holder of the private key opens them.

X25519 + HKDF-SHA-256 + AES-256-GCM (an ECIES in the manner of libsodium's sealed boxes, from
`cryptography` alone). One ephemeral key pair per batch: each value gets its own random nonce,
and the header and token are associated data, so an entry cannot be moved to another token.

    sealed = b"\x02" | keyring id (16, the UUID) | version (4 bytes, big-endian) | ephemeral public key (32)
             | nonce (12) | AES-GCM

The keyring id in the header says which keyring an entry needs, so that an entry of a lost or
replaced keyring is reported as such, never read as "not found". Entries written before it was
recorded (format 1: the same without the keyring id) still open.
"""

from __future__ import annotations

import os
import uuid
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = 2
_HEADERS = {1: 1 + 4 + 32, 2: 1 + 16 + 4 + 32}  # format -> header length
_NONCE = 12
_RAW = serialization.Encoding.Raw


def new_private_key() -> bytes:
    return X25519PrivateKey.generate().private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def public_key_of(private_key: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def _data_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> AESGCM:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"tegridy-seal-v1" + ephemeral_public + recipient_public)
    return AESGCM(kdf.derive(shared))


def seal_many(version: int, public_key: bytes, values: Mapping[str, str], keyring_id: str | None = None) -> dict[str, bytes]:
    """token -> sealed value, for every (token, value); one key agreement for the whole batch.
    With `keyring_id` (a UUID) the entries carry it (format 2); without, format 1."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    aead = _data_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key)), ephemeral_public, public_key)
    prefix = b"\x01" if keyring_id is None else bytes([FORMAT]) + uuid.UUID(keyring_id).bytes
    header = prefix + version.to_bytes(4, "big") + ephemeral_public
    sealed = {}
    nonces = os.urandom(_NONCE * len(values))  # one system call for the batch, not one per value
    for start, (token, value) in zip(range(0, len(nonces), _NONCE), values.items()):
        nonce = nonces[start:start + _NONCE]
        body = aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"), header + token.encode("ascii"))
        sealed[token] = header + nonce + body
    return sealed


def _header_length(sealed: bytes) -> int | None:
    header = _HEADERS.get(sealed[0]) if sealed else None
    return header if header is not None and len(sealed) >= header + _NONCE else None


def version_of(sealed: bytes) -> int | None:
    header = _header_length(sealed)
    if header is None:
        return None
    return int.from_bytes(sealed[header - 36:header - 32], "big")


_KEYRING_NAMES: dict[bytes, str] = {}  # a vault holds entries of one keyring, rarely a few


def keyring_of(sealed: bytes) -> str | None:
    """The id of the keyring an entry was sealed under; None for an entry that does not say (format 1)."""
    if _header_length(sealed) != _HEADERS[2]:
        return None
    raw = bytes(sealed[1:17])
    name = _KEYRING_NAMES.get(raw)
    if name is None:
        name = str(uuid.UUID(bytes=raw))
        if len(_KEYRING_NAMES) < 64:
            _KEYRING_NAMES[raw] = name
    return name


def open_many(private_keys: Mapping[int, bytes], entries: Mapping[str, bytes]) -> dict[str, str]:
    """token -> value for each entry that opens; a tampered, foreign or unknown-version entry is
    left out (read as not found, never as a wrong value)."""
    opened: dict[str, str] = {}
    agreements: dict[bytes, AESGCM] = {}  # one key agreement per batch that sealed the entries
    for token, sealed in entries.items():
        version = version_of(sealed)
        private = private_keys.get(version) if version is not None else None
        if private is None:
            continue
        length = _header_length(sealed)
        header = sealed[:length]
        aead = agreements.get(header)
        if aead is None:
            key = X25519PrivateKey.from_private_bytes(private)
            ephemeral_public = header[-32:]
            recipient_public = key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
            aead = _data_key(key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)), ephemeral_public, recipient_public)
            agreements[header] = aead
        nonce, body = sealed[length:length + _NONCE], sealed[length + _NONCE:]
        try:
            opened[token] = aead.decrypt(nonce, body, header + token.encode("ascii")).decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError):
            continue
    return opened
