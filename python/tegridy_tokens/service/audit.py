"""The tamper-evident audit: one JSON line per invocation, each holding the SHA-256 of the line
before it, so that an edited or removed line breaks the chain (`tegridy-tokens audit verify`).

A line holds the time, the request id, the function, the operation, the principal, the counts
(requested, answered, failed), for detokenize an HMAC-SHA-256 of each token under the audit key
(a token can be checked against the log without the log listing tokens), the role a caller
claims (marked as claimed: it grants nothing), and `prev`. Never a value or a token.

Writing fails closed: a line that cannot be written raises AuditUnavailable, and the server then
reveals nothing. Locally the lines go to a file (`--audit PATH`, key in PATH.key unless given);
on Lambda to stdout, which is CloudWatch Logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, TextIO

from .errors import ServiceError

GENESIS = "0" * 64


class AuditUnavailable(ServiceError):
    """The audit record could not be written; the request is refused and nothing is revealed."""


def line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def token_hmac(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def load_or_create_key(path: str | os.PathLike[str]) -> bytes:
    """The audit key (32 random bytes, base64, mode 0600), made on first use."""
    key_path = Path(path)
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode("ascii") + "\n")
    return base64.b64decode(key_path.read_text().strip())


class AuditLog:
    """Appends chained lines to `path` (or to `stream`), one at a time; resumes the chain of an
    existing file. `key` HMACs detokenized tokens; None records that no key is configured."""

    def __init__(self, path: str | os.PathLike[str] | None = None, key: bytes | None = None,
                 stream: TextIO | None = None):
        self.path = Path(path) if path is not None else None
        self.stream = stream
        self.key = key
        self._lock = threading.Lock()
        self._prev, self._seq = GENESIS, 0
        if self.path is not None and self.path.exists():
            last = None
            with open(self.path, encoding="utf-8") as handle:
                for last in handle:
                    self._seq += 1
            if last is not None:
                self._prev = line_hash(last.rstrip("\n"))

    def record(self, *, request_id: str, function: str, operation: str, principal: dict[str, str],
               requested: int, answered: int, failed: int, outcome: str, tokens: Iterable[str] = (),
               claimed_role: str | None = None) -> str:
        """Writes one line and returns it; raises AuditUnavailable if it cannot be written."""
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": request_id,
            "function": function, "operation": operation, "principal": principal, "outcome": outcome,
            "requested": requested, "answered": answered, "failed": failed,
        }
        tokens = list(tokens)
        if operation == "detokenize":
            entry["token_hmacs"] = [token_hmac(self.key, t) for t in tokens] if self.key else None
        if claimed_role is not None:
            entry["role"] = {"claimed": claimed_role}
        with self._lock:
            entry["seq"] = self._seq + 1
            entry["prev"] = self._prev
            entry["hash"] = _self_hash(entry)
            line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
            try:
                if self.path is not None:
                    with open(self.path, "a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
                        handle.flush()
                        os.fsync(handle.fileno())
                else:
                    stream = self.stream or sys.stdout
                    stream.write(line + "\n")
                    stream.flush()
            except (OSError, ValueError) as error:
                raise AuditUnavailable(f"the audit record could not be written ({type(error).__name__}); "
                                       "the request was refused and nothing was revealed. Fix the audit destination "
                                       "(--audit PATH: a writable file) and try again") from None
            self._seq += 1
            self._prev = line_hash(line)
        return line


def _self_hash(entry: dict[str, Any]) -> str:
    """The SHA-256 of a record without its own `hash` field: an edit of any line, the last included, shows."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return line_hash(json.dumps(body, sort_keys=True, separators=(",", ":")))


def verify(path: str | os.PathLike[str]) -> tuple[bool, str]:
    """(ok, report). Names the first line that was changed or removed, counting from 1."""
    prev, expected_seq = GENESIS, 1
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            seq, claimed_prev = int(entry["seq"]), str(entry["prev"])
        except (ValueError, KeyError, TypeError):
            return False, f"line {number}: not an audit record: it was changed"
        if entry.get("hash") != _self_hash(entry):
            return False, f"line {number}: changed (its content does not match its own hash)"
        if seq != expected_seq:
            return False, (f"line {number}: sequence {seq} where {expected_seq} was expected: "
                           f"{'line(s) were removed before it' if seq > expected_seq else 'lines were reordered or inserted'}")
        if claimed_prev != prev:
            return False, f"line {number - 1}: changed (line {number} holds a different hash of it)" if number > 1 else \
                f"line 1: changed (its chain does not start at the beginning)"
        prev, expected_seq = line_hash(line), expected_seq + 1
    return True, f"{len(lines)} line(s), chain intact; last hash {prev} (keep it elsewhere to detect truncation)"
