"""The keyring, split by operation, and loading it without ever creating it.

- The tokenize side holds the token key (HMAC-SHA-256: derives convergent tokens) and the
  current sealing public key (seals values; see sealing.py).
- Only the detokenize side holds the sealing private keys, one per version, which open them.

The vault keeps the keyring's record (its id, a check of the token key, the public key of each
version, the current version). The secrets live either in a 0600 file (`--keyring PATH`) or,
wrapped by two KMS keys, in that record itself: the token key under the tokenize KMS key and
each private key under the detokenize KMS key, so each role can unwrap only its own half.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping

from .errors import KeyringError, KeysNotReady
from .sealing import public_key_of
from .vault import KEYRING_RECORD, Vault

FORMAT = 2
TOKENIZE = "tokenize"
DETOKENIZE = "detokenize"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def token_key_check(token_key: bytes) -> str:
    """A fingerprint of the token key, kept in the vault to detect a foreign keyring."""
    return b64(hmac.new(token_key, b"tegridy keyring check", hashlib.sha256).digest()[:16])


def kms_context(keyring_id: str, purpose: str) -> dict[str, str]:
    # Bound into each wrapped key: a blob cannot be replayed as another keyring's or purpose's.
    return {"tegridy:keyring": keyring_id, "tegridy:purpose": purpose}


def init_command(url: str) -> str:
    return (f"`tegridy-tokens keys init --vault {url} --tokenize-kms-key ID --detokenize-kms-key ID` "
            "(or `--keyring PATH` instead of the KMS keys)")


@dataclass(frozen=True, repr=False)
class Keyring:
    """The keys one process loaded: only the halves its operations need."""

    keyring_id: str
    sealing_version: int
    sealing_public_key: bytes
    token_key: bytes | None = None
    opening_keys: Mapping[int, bytes] = field(default_factory=dict)

    @property
    def can_tokenize(self) -> bool:
        return self.token_key is not None

    @property
    def can_detokenize(self) -> bool:
        return bool(self.opening_keys)

    def __repr__(self) -> str:  # keys never reach a log through repr()
        return (f"Keyring(id={self.keyring_id}, tokenize={self.can_tokenize}, "
                f"opening_versions={sorted(self.opening_keys)})")


@dataclass
class KeyringRecord:
    """The vault's record of the keyring; no secret in it unless wrapped by KMS."""

    document: dict[str, Any]
    revision: int | None = None  # None: not yet stored

    @property
    def keyring_id(self) -> str:
        return self.document["keyring_id"]

    @property
    def current(self) -> int:
        return self.document["current"]

    @property
    def versions(self) -> dict[int, dict[str, Any]]:
        return {int(version): entry for version, entry in self.document["versions"].items()}

    @property
    def kms(self) -> dict[str, str] | None:
        return self.document.get("kms")

    def dumps(self) -> str:
        return json.dumps(self.document, sort_keys=True)


def read_record(vault: Vault) -> KeyringRecord | None:
    stored = vault.get_meta(KEYRING_RECORD)
    if stored is None:
        return None
    try:
        document = json.loads(stored[0])
        if document.get("format") != FORMAT:
            raise KeyringError(f"the keyring record in {vault.url} has format {document.get('format')!r}, "
                               f"this service reads format {FORMAT}")
        record = KeyringRecord(document, stored[1])
        record.versions, record.current, record.keyring_id  # noqa: B018 (validates the shape)
        return record
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyringError(f"the keyring record in {vault.url} is unreadable; restore the vault from backup") from None


def read_keyring_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The keyring file's document, refused unless only its owner can read it (mode 0600)."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeysNotReady(f"keyring file {path} does not exist; point TEGRIDY_KEYRING (--keyring) at the file "
                           "that `tegridy-tokens keys init --keyring PATH` wrote for this vault") from None
    if mode & 0o077:
        raise KeyringError(f"keyring file {path} has mode {mode:o}; it must be readable by its owner only: chmod 600 {path}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise KeyringError(f"keyring file {path} is unreadable; restore it from backup") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise KeyringError(f"keyring file {path} is not a format-{FORMAT} keyring (format 1 files came before "
                           "`tegridy-tokens keys init`); move it and its vault aside, or restore the right file")
    return document


def write_keyring_file(path: str | os.PathLike[str], document: dict[str, Any], replace: bool = False) -> None:
    """Writes the file with mode 0600 (parents 0700); never replaces one unless `replace`."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = path.with_name(path.name + ".new") if replace else path
    # O_EXCL: two commands at once must not each write their own keys.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    if replace:
        os.replace(target, path)


def load_keyring(vault: Vault, operations: Collection[str], keyring_path: str | os.PathLike[str] | None = None,
                 kms: Any = None) -> Keyring:
    """The keys for `operations`, checked against the vault's record. Creates nothing: missing or
    mismatched keys raise KeysNotReady naming the fix."""
    record = read_record(vault)
    if record is None:
        raise KeysNotReady(f"the vault {vault.url} has no keys; the service never creates them. "
                           f"Create them once with {init_command(vault.url)}")
    tokenize, detokenize = TOKENIZE in operations, DETOKENIZE in operations
    versions = record.versions
    token_key: bytes | None = None
    opening: dict[int, bytes] = {}
    if record.kms is not None:
        from .kms import Kms

        kms = kms or Kms()
        if tokenize:
            token_key = kms.decrypt(record.kms["tokenize_key_id"], unb64(record.kms["wrapped_token_key"]),
                                    kms_context(record.keyring_id, "token-key"))
        if detokenize:
            opening = {version: kms.decrypt(record.kms["detokenize_key_id"], unb64(entry["wrapped_private_key"]),
                                            kms_context(record.keyring_id, f"private-key-{version}"))
                       for version, entry in versions.items()}
    else:
        if keyring_path is None:
            raise KeysNotReady(f"the keys of vault {vault.url} are in a keyring file: set TEGRIDY_KEYRING "
                               "(or --keyring) to the file `tegridy-tokens keys init --keyring PATH` wrote")
        document = read_keyring_file(keyring_path)
        if document.get("keyring_id") != record.keyring_id:
            raise KeysNotReady(f"keyring file {keyring_path} does not belong to vault {vault.url}; use the file "
                               "`tegridy-tokens keys init` wrote for this vault (`tegridy-tokens keys status` shows its id)")
        try:
            if tokenize:
                token_key = unb64(document["token_key"])
            if detokenize:
                opening = {int(version): unb64(key) for version, key in document["private_keys"].items()}
        except (KeyError, ValueError, TypeError, AttributeError):
            raise KeyringError(f"keyring file {keyring_path} is damaged; restore it from backup") from None
        del document  # the half this process does not need is dropped here
    if token_key is not None and not hmac.compare_digest(token_key_check(token_key), record.document["token_key_check"]):
        raise KeysNotReady(f"the token key does not match vault {vault.url}'s record; use the keyring made "
                           "for this vault by `tegridy-tokens keys init`")
    for version in versions:
        if detokenize and version not in opening:
            raise KeysNotReady(f"the keyring lacks sealing key version {version} of vault {vault.url}; "
                               "restore the keyring file written by `tegridy-tokens keys rotate`")
    for version, private in opening.items():
        if version not in versions or b64(public_key_of(private)) != versions[version]["public_key"]:
            raise KeysNotReady(f"sealing key version {version} does not match vault {vault.url}'s record; use the "
                               "keyring made for this vault")
    return Keyring(keyring_id=record.keyring_id, sealing_version=record.current,
                   sealing_public_key=unb64(versions[record.current]["public_key"]),
                   token_key=token_key, opening_keys=opening)
