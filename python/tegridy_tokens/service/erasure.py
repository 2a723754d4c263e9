"""Erasure: each token's sealed entry replaced by a tombstone (tombstones.py), final and audited.

By token, erasure needs the vault table alone, never a key: a default-format token is its own
vault key (its tag names its scope), a format-preserving one needs its format and scope. By value
it needs the token key too, to find the tokens (the key administrator's part). The vault is read
in chunks to sort the tokens into present, already erased and unknown; one audit line records the
run (who, the reason reference, the counts, the scopes) before any tombstone is written, and a
second if fewer were written than it said. Values are held in memory only, never logged.
There is no undo (docs/security.md says why).
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .audit import AuditLog, token_hmac
from .errors import InvalidRequest
from .invocation import outcome_of
from .keyring import TOKENIZE, load_keyring
from .retry import Deadline
from .scopes import DEFAULT_FORMAT, DEFAULT_SCOPE, TOKEN_PREFIX, check_scope, is_scope_name, scope_of_token, vault_key
from .formats import FormatError
from .tokens import TokenEngine
from .tombstones import is_tombstone, make_tombstone
from .vault import Vault, open_vault

CHUNK = 10_000            # vault keys read or written per step: bounded memory per call, few calls
ERASE_BUDGET_S = 600.0    # retries of throttled writes stop after this long; what is left is reported
OPERATION = "erase"


@dataclass
class ErasureReport:
    """What an erase run found and did, by token (never a value). In a dry run `erased` is empty
    and `present` lists what a real run would erase."""

    dry_run: bool
    by: str
    reason: str | None
    present: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    already_erased: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # not written in time: run again for these
    refused: int = 0  # values that do not meet their format's rules (none of them has a token)

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "by": self.by, "reason": self.reason, "present": len(self.present),
                "erased": len(self.erased), "already_erased": len(self.already_erased), "unknown": len(self.unknown),
                "failed": len(self.failed), "refused_values": self.refused}


def operator_identity(vault_url: str) -> str:
    """Who runs the erasure: the AWS caller identity for a DynamoDB vault (as CloudTrail names it),
    else the OS user; the OS user, marked as such, when AWS does not answer."""
    user = f"os-user:{getpass.getuser()}"
    if not vault_url.startswith("dynamodb://"):
        return user
    try:
        import boto3
        from botocore.config import Config

        sts = boto3.client("sts", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}))
        return f"aws:{sts.get_caller_identity()['Arn']}"
    except Exception as error:  # no credentials, no network: the OS user stands, and says why
        return f"{user} (AWS caller identity unavailable: {type(error).__name__})"


def _token_keys(tokens: Iterable[str], fmt: str | None, scope: str) -> list[tuple[str, str]]:
    """(token, vault key) of each token given; InvalidRequest, before anything is read, for a
    token that cannot be one (never quoting it)."""
    pairs = []
    formatted = fmt not in (None, DEFAULT_FORMAT)
    for number, token in enumerate(tokens, start=1):
        if not token:
            continue
        if not formatted:
            tag = scope_of_token(token)
            if tag is None or not is_scope_name(tag):
                raise InvalidRequest(f"token {number} is not a default-format token (tgr_…); for format-preserving "
                                     "tokens name their --format and --scope")
        pairs.append((token, vault_key(token, fmt, scope)))
    return pairs


def _value_keys(engine: TokenEngine, values: Sequence[str], fmt: str | None, scope: str) -> tuple[list[tuple[str, str]], int]:
    """(token, vault key) of each value's token in `scope`, and how many values their format refused."""
    if fmt in (None, DEFAULT_FORMAT):
        return [(t, t) for t in engine.tokens_for(values, scope)], 0
    cipher = engine.format_cipher(fmt, scope)
    pairs, refused = [], 0
    for value in values:
        try:
            token = cipher.tokenize(value)
        except FormatError:
            refused += 1
            continue
        pairs.append((token, vault_key(token, fmt, scope)))
    return pairs, refused


def erase(vault: str | os.PathLike[str] | Vault, tokens: Iterable[str] | None = None, values: Sequence[str] | None = None,
          scope: str | None = None, format: str | None = None, reason: str | None = None, dry_run: bool = False,
          keyring: str | os.PathLike[str] | None = None, audit: AuditLog | None = None, by: str | None = None,
          kms: Any = None) -> ErasureReport:
    """Erases the tokens given (or the tokens of the values given, in `scope` and `format`): each
    entry becomes a tombstone recording when, `reason` (an operator's reference, e.g. a ticket)
    and who. `dry_run`: only sorts them into present, already erased and unknown. With `audit`,
    one line per run, written before any tombstone (if it cannot be written, nothing is erased)."""
    if (tokens is None) == (values is None):
        raise InvalidRequest("erase needs either tokens or values (with their scope), not both")
    store = open_vault(vault) if isinstance(vault, (str, os.PathLike)) else vault
    scope_name = check_scope(scope)
    if format not in (None, DEFAULT_FORMAT):
        from .formats import FORMATS

        if format not in FORMATS:
            raise InvalidRequest(f"unknown format {format!r}; known formats: default, {', '.join(FORMATS)}")
    refused = 0
    if values is not None:
        engine = TokenEngine(load_keyring(store, {TOKENIZE}, keyring, kms), None, frozenset({TOKENIZE}))
        pairs, refused = _value_keys(engine, list(values), format, scope_name)
    else:
        pairs = _token_keys(tokens, format, scope_name)
    pairs = list(dict(pairs).items())  # each token once, in the order given
    report = ErasureReport(dry_run=dry_run, by=by or operator_identity(store.url), reason=reason, refused=refused)
    deadline = Deadline(ERASE_BUDGET_S)
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start:start + CHUNK]
        found, unread = store.get_many([key for _, key in chunk], deadline)
        for token, key in chunk:
            if key in unread:
                report.failed.append(token)
            elif key not in found:
                report.unknown.append(token)
            elif is_tombstone(found[key]):
                report.already_erased.append(token)
            else:
                report.present.append(token)
    keys = dict(pairs)
    scopes = sorted({_scope_of(token, format, scope_name) for token, _ in pairs}) or [scope_name]
    run = _Run(audit, report, scopes, [keys[t] for t in report.present], store.url)
    if dry_run:
        run.record("dry run", 0)
        return report
    run.record("ok", len(report.present))
    tombstone = make_tombstone(reason, report.by)
    try:
        for start in range(0, len(report.present), CHUNK):
            chunk = report.present[start:start + CHUNK]
            late = store.replace_many({keys[t]: tombstone for t in chunk}, deadline)
            by_key = {keys[t]: t for t in chunk}
            report.failed += [by_key[k] for k in late]
            report.erased += [t for t in chunk if keys[t] not in late]
    except Exception as error:
        run.record(outcome_of(error), len(report.erased))
        raise
    if len(report.erased) != len(report.present):
        run.record("erased in part", len(report.erased))
    return report


def _scope_of(token: str, fmt: str | None, scope: str) -> str:
    return scope if fmt not in (None, DEFAULT_FORMAT) else (scope_of_token(token) or DEFAULT_SCOPE)


class _Run:
    """The audit lines of one erase run: the same request id, the counts, never a token or value
    (an HMAC of the sorted vault keys to be erased lets an auditor check a list against it)."""

    def __init__(self, audit: AuditLog | None, report: ErasureReport, scopes: list[str], keys: list[str], vault: str):
        self.audit, self.report, self.scopes, self.vault = audit, report, scopes, vault
        self.request_id = str(uuid.uuid4())
        self.unread = len(report.failed)  # before any write: the tokens the vault did not answer for
        self.keys_hmac = token_hmac(audit.key, "\n".join(sorted(keys))) if audit is not None and audit.key else None

    def record(self, outcome: str, answered: int) -> None:
        if self.audit is None:
            return
        report = self.report
        requested = len(report.present) + len(report.already_erased) + len(report.unknown) + len(report.failed)
        self.audit.record(request_id=self.request_id, function="tegridy-tokens erase", operation=OPERATION,
                          principal={"name": report.by, "kind": "operator"}, requested=requested, answered=answered,
                          failed=self.unread + (len(report.present) - answered if outcome != "dry run" else 0),
                          outcome=outcome, scopes=self.scopes,
                          details={"vault": self.vault, "reason": report.reason, "dry_run": report.dry_run,
                                   "present": len(report.present), "already_erased": len(report.already_erased),
                                   "unknown": len(report.unknown), "refused_values": report.refused,
                                   "erased_keys_hmac": self.keys_hmac})
