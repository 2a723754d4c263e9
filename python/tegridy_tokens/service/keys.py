"""Key administration, the only place keys are made: `tegridy-tokens keys init|rotate|status`."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections import Counter
from typing import Any

from .errors import KeyringError, ServiceError
from .keyring import (FORMAT, KeyringRecord, b64, kms_context, read_keyring_file, read_record, token_key_check,
                      write_keyring_file)
from .sealing import keyring_of, new_private_key, public_key_of
from .tombstones import is_tombstone
from .vault import KEYRING_RECORD, Vault


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def init_keys(vault: Vault, keyring_path: str | os.PathLike[str] | None = None, tokenize_kms_key: str | None = None,
              detokenize_kms_key: str | None = None, kms: Any = None) -> dict[str, Any]:
    """Creates the vault's keys once: in a 0600 file, or wrapped by two KMS keys into the vault."""
    use_kms = tokenize_kms_key is not None or detokenize_kms_key is not None
    if use_kms == (keyring_path is not None) or (use_kms and not (tokenize_kms_key and detokenize_kms_key)):
        raise KeyringError("give either --tokenize-kms-key and --detokenize-kms-key (on AWS), or --keyring PATH")
    if read_record(vault) is not None:
        raise KeyringError(f"the vault {vault.url} already has keys; they are never replaced "
                           "(see `tegridy-tokens keys status`, or `keys rotate` for a new sealing key)")
    refuse_orphaned_entries(vault)
    keyring_id = str(uuid.uuid4())
    private = new_private_key()
    version = {"public_key": b64(public_key_of(private)), "created": _now()}
    document: dict[str, Any] = {"format": FORMAT, "keyring_id": keyring_id, "current": 1, "versions": {"1": version}}
    if use_kms:
        from .kms import Kms

        kms = kms or Kms()
        token_key, wrapped = kms.generate_data_key(tokenize_kms_key, kms_context(keyring_id, "token-key"))
        version["wrapped_private_key"] = b64(kms.encrypt(detokenize_kms_key, private, kms_context(keyring_id, "private-key-1")))
        document["kms"] = {"tokenize_key_id": tokenize_kms_key, "detokenize_key_id": detokenize_kms_key,
                           "wrapped_token_key": b64(wrapped)}
    else:
        token_key = secrets.token_bytes(32)
        try:
            write_keyring_file(keyring_path, {"format": FORMAT, "keyring_id": keyring_id, "token_key": b64(token_key),
                                              "private_keys": {"1": b64(private)}})
        except FileExistsError:
            raise KeyringError(f"keyring file {keyring_path} already exists; it is never overwritten. "
                               "Use it, or choose another path") from None
    document["token_key_check"] = token_key_check(token_key)
    if not vault.put_meta(KEYRING_RECORD, KeyringRecord(document).dumps(), expected_revision=None):
        if keyring_path is not None:
            os.unlink(keyring_path)  # another init won the race: its keys stand, ours never served
        raise KeyringError(f"another `keys init` created keys for {vault.url} at the same time; use those")
    return key_status(vault)


def refuse_orphaned_entries(vault: Vault) -> None:
    """New keys over entries would make them unreadable for good, and give their values new tokens:
    a vault that holds entries but no keyring record lost its record, which must come back."""
    keyrings: Counter = Counter()
    for sealed in vault.sealed_entries():
        # A tombstone names no keyring; its token is still this keyring's, which new keys would not make again.
        keyrings[ERASED if is_tombstone(bytes(sealed)) else keyring_of(bytes(sealed))] += 1
    if not keyrings:
        return
    count = sum(keyrings.values())
    named = [f"{keyring_id} ({n:,} {_entries(n)})" for keyring_id, n in sorted(keyrings.items(), key=str)
             if keyring_id and keyring_id != ERASED]
    missing = [f"the missing keyring: {', '.join(named)}"] if named else []
    if keyrings.get(None):
        missing.append(f"{keyrings[None]:,} {_entries(keyrings[None])} from before entries named their keyring "
                       "(the backup's `keys status` shows its id)")
    if keyrings.get(ERASED):
        missing.append(f"{keyrings[ERASED]:,} erased {_entries(keyrings[ERASED])} (tombstones: the missing keyring's "
                       "tokens, which new keys would not make again)")
    found = "; ".join(missing)
    found = found[:1].upper() + found[1:]
    if vault.url.startswith("dynamodb://"):
        way_back = ("Restore the table's #keyring item from its point-in-time recovery (or an on-demand backup) "
                    "from before it went")
    else:
        way_back = "Restore the vault file (its meta table holds the record) and the keyring file from a backup"
    raise KeyringError(
        f"the vault {vault.url} holds {count:,} {_entries(count)} but no keyring record: it was deleted or lost. New "
        f"keys would leave every entry unreadable, so none are made. {found}. {way_back}; "
        "`tegridy-tokens keys status` then shows the keyring again")


ERASED = "erased"  # refuse_orphaned_entries' count of tombstones


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def rotate_keys(vault: Vault, keyring_path: str | os.PathLike[str] | None = None, kms: Any = None) -> dict[str, Any]:
    """Adds a sealing key and makes it current. Tokens do not change (the token key stays) and
    entries sealed under older versions still open. Running instances pick it up on restart."""
    record = read_record(vault)
    if record is None:
        raise KeyringError(f"the vault {vault.url} has no keys to rotate; run `tegridy-tokens keys init` first")
    version = max(record.versions) + 1
    private = new_private_key()
    entry = {"public_key": b64(public_key_of(private)), "created": _now()}
    file_document = None
    if record.kms is not None:
        from .kms import Kms

        entry["wrapped_private_key"] = b64((kms or Kms()).encrypt(
            record.kms["detokenize_key_id"], private, kms_context(record.keyring_id, f"private-key-{version}")))
    else:
        if keyring_path is None:
            raise KeyringError(f"the keys of {vault.url} are in a keyring file; give it with --keyring PATH")
        file_document = read_keyring_file(keyring_path)
        if file_document.get("keyring_id") != record.keyring_id:
            raise KeyringError(f"keyring file {keyring_path} does not belong to vault {vault.url}")
        file_document["private_keys"][str(version)] = b64(private)
        # The file first: a key in the file but not in the vault is harmless, the reverse is not.
        write_keyring_file(keyring_path, file_document, replace=True)
    record.document["versions"][str(version)] = entry
    record.document["current"] = version
    if not vault.put_meta(KEYRING_RECORD, record.dumps(), expected_revision=record.revision):
        raise KeyringError(f"the keyring of {vault.url} changed during the rotation; run `keys rotate` again")
    return key_status(vault)


def key_status(vault: Vault, keyring_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What the keyring is, without a single key in it."""
    record = read_record(vault)
    if record is None:
        return {"vault": vault.url, "initialised": False}
    status: dict[str, Any] = {
        "vault": vault.url, "initialised": True, "keyring_id": record.keyring_id, "current_version": record.current,
        "versions": [{"version": v, "created": e.get("created")} for v, e in sorted(record.versions.items())],
        "storage": "kms" if record.kms else "file",
    }
    if record.kms:
        status["tokenize_kms_key"] = record.kms["tokenize_key_id"]
        status["detokenize_kms_key"] = record.kms["detokenize_key_id"]
    if keyring_path is not None:
        try:
            document = read_keyring_file(keyring_path)
            status["keyring_file_matches"] = (document.get("keyring_id") == record.keyring_id and
                                              sorted(document.get("private_keys", {})) == sorted(map(str, record.versions)))
        except Exception as error:  # status reports, it does not fail
            status["keyring_file_matches"] = False
            status["keyring_file_error"] = str(error) if isinstance(error, ServiceError) else type(error).__name__
    return status
