"""The service's secret keys: one file, created with mode 0600 on first start, never logged.

Two independent 256-bit keys: one for HMAC-SHA-256 (derives convergent tokens), one for
AES-256-GCM (encrypts values in the vault). They live apart from the vault so that a copied
vault file alone reveals nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEYRING_FORMAT_VERSION = 1


class KeyringError(RuntimeError):
    """The keyring file exists but cannot be used."""


@dataclass(frozen=True, repr=False)
class Keyring:
    hmac_key: bytes
    aes_key: bytes

    def __repr__(self) -> str:  # keys never reach a log through repr()
        return "Keyring(<redacted>)"


def load_or_create(path: str | os.PathLike[str]) -> Keyring:
    """Reads the keyring at `path`, creating it (mode 0600, parents 0700) if it does not exist."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != KEYRING_FORMAT_VERSION:
            raise KeyringError(f"keyring {path} has unsupported version {document.get('version')!r}")
        keyring = Keyring(
            hmac_key=base64.b64decode(document["hmac_key"]),
            aes_key=base64.b64decode(document["aes_key"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise KeyringError(
            f"keyring {path} is unreadable ({type(error).__name__}); restore it from backup — "
            "without it existing tokens cannot be detokenized"
        ) from None
    if len(keyring.hmac_key) != 32 or len(keyring.aes_key) != 32:
        raise KeyringError(f"keyring {path} holds keys of the wrong length; expected 32 bytes each")
    return keyring


def _create(path: Path) -> None:
    document = {
        "version": KEYRING_FORMAT_VERSION,
        "hmac_key": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
        "aes_key": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    }
    try:
        # O_EXCL: two servers starting at once must not each write their own keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
