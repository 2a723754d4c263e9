"""Sealing values to a public key, so that only the holder of the private key opens them.

X25519 + HKDF-SHA-256 + AES-256-GCM (an ECIES in the manner of libsodium's sealed boxes, from
`cryptography` alone). One ephemeral key pair per batch: each value gets its own random nonce,
and the header and token are associated data, so an entry cannot be moved to another token.

    sealed = b"\x01" | version (4 bytes, big-endian) | ephemeral public key (32) | nonce (12) | AES-GCM
"""

from __future__ import annotations

import os
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = 1
_HEADER = 1 + 4 + 32
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


def seal_many(version: int, public_key: bytes, values: Mapping[str, str]) -> dict[str, bytes]:
    """token -> sealed value, for every (token, value); one key agreement for the whole batch."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    aead = _data_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key)), ephemeral_public, public_key)
    header = bytes([FORMAT]) + version.to_bytes(4, "big") + ephemeral_public
    sealed = {}
    nonces = os.urandom(_NONCE * len(values))  # one system call for the batch, not one per value
    for start, (token, value) in zip(range(0, len(nonces), _NONCE), values.items()):
        nonce = nonces[start:start + _NONCE]
        body = aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"), header + token.encode("ascii"))
        sealed[token] = header + nonce + body
    return sealed


def version_of(sealed: bytes) -> int | None:
    if len(sealed) < _HEADER + _NONCE or sealed[0] != FORMAT:
        return None
    return int.from_bytes(sealed[1:5], "big")


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
        header = sealed[:_HEADER]
        aead = agreements.get(header)
        if aead is None:
            key = X25519PrivateKey.from_private_bytes(private)
            ephemeral_public = header[5:]
            recipient_public = key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
            aead = _data_key(key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)), ephemeral_public, recipient_public)
            agreements[header] = aead
        nonce, body = sealed[_HEADER:_HEADER + _NONCE], sealed[_HEADER + _NONCE:]
        try:
            opened[token] = aead.decrypt(nonce, body, header + token.encode("ascii")).decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError):
            continue
    return opened
