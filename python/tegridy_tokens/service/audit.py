"""The audit nobody can forge or cut short: one JSON line per invocation, each linked to the line
before it by an HMAC-SHA-256 under the audit key, and a head anchor outside the log that says
how far the log reached (`tegridy-tokens audit verify`).

A line holds the time, the request id, the function, the operation, the principal, the counts
(requested, answered, failed), for detokenize an HMAC-SHA-256 of each token under the audit key
(a token can be checked against the log without the log listing tokens), the scopes the request
reached (names), the role a caller
claims (marked as claimed: it grants nothing), `seq`, `prev` (the line before's link) and `mac`
(HMAC-SHA-256 of the line without `mac`). Never a value or a token. Without the key, a line can
be neither edited nor re-chained; without the head anchor's sequence and link, lines removed
from the end would leave a valid chain, so `verify` checks the log against the anchor.

Locally the lines go to a file (`--audit PATH`, key in PATH.key unless given, anchor in
PATH.head; all 0600, new directories 0700). On Lambda they go to stdout, which is CloudWatch
Logs; a line there also carries the instance's random id, and `seq` counts per instance, so a
lost line shows as a gap (docs/security.md). Writing fails closed: a line that cannot be written
raises AuditUnavailable, and the caller then stores and reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
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

from .errors import ConfigurationError, ServiceError

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"
KEY_SUFFIX = ".key"
KEY_VARIABLE = "TEGRIDY_AUDIT_KEY"


class AuditUnavailable(ServiceError):
    """The audit record could not be written; the request is refused and nothing is revealed."""


def token_hmac(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")


def line_mac(key: bytes, entry: dict[str, Any]) -> str:
    """The link of a line: HMAC-SHA-256 of the line without its own `mac`, `prev` included."""
    return hmac.new(key, _canonical({k: v for k, v in entry.items() if k != "mac"}), hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, link: str) -> str:
    return hmac.new(key, f"tegridy-audit-head:{seq}:{link}".encode("ascii"), hashlib.sha256).hexdigest()


def make_private_dirs(directory: Path) -> None:
    """Makes the missing directories of `directory`, each 0700 (Path.mkdir gives parents the default)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise ConfigurationError(f"{where}: the audit key must be base64 of at least 16 random bytes "
                                 "(make one with: head -c 32 /dev/urandom | base64)")
    return key


def load_or_create_key(path: str | os.PathLike[str]) -> bytes:
    """The audit key (32 random bytes, base64, mode 0600), made on first use."""
    key_path = Path(path)
    if not key_path.exists():
        make_private_dirs(key_path.parent)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode("ascii") + "\n")
    return decode_key(key_path.read_text(), str(key_path))


def read_head(path: Path, key: bytes) -> tuple[int, str] | str:
    """(seq, link) of the head anchor, or what is wrong with it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        seq, link, mac = int(document["seq"]), str(document["link"]), str(document["mac"])
    except FileNotFoundError:
        return f"no head anchor {path}: without it, lines removed from the end cannot be ruled out"
    except (OSError, ValueError, KeyError, TypeError):
        return f"the head anchor {path} is not one: it was changed"
    if not hmac.compare_digest(mac, head_mac(key, seq, link)):
        return f"the head anchor {path} does not match under the audit key: it was changed or forged"
    return seq, link


class AuditLog:
    """Appends chained lines to `path` (or to `stream`), one at a time, and after each the head
    anchor PATH.head; resumes the chain of an existing file. `key` links the lines and HMACs
    detokenized tokens; None (Lambda without TEGRIDY_AUDIT_KEY) writes unlinked lines that
    `verify` refuses. `instance` (Lambda) names this writer's lines within a shared stream."""

    def __init__(self, path: str | os.PathLike[str] | None = None, key: bytes | None = None,
                 stream: TextIO | None = None, instance: str | None = None):
        self.path = Path(path) if path is not None else None
        self.stream = stream
        self.key = key
        self.instance = instance
        self._lock = threading.Lock()
        self._prev, self._seq = GENESIS, 0
        if self.path is not None:
            if key is None:
                raise ConfigurationError("an audit file needs its key (--audit-key FILE, or PATH.key made on first use)")
            make_private_dirs(self.path.parent)
            self._prev, self._seq = self._resume()

    @property
    def head_path(self) -> Path:
        return Path(f"{self.path}{HEAD_SUFFIX}")

    def _resume(self) -> tuple[str, int]:
        """Where the chain goes on: after the log's last line if it links under the key and
        reaches the anchor, else after the anchor itself (so lines cut from the end stay a gap)."""
        last = None
        if self.path.exists():
            with open(self.path, encoding="utf-8") as handle:
                for last in handle:
                    pass
        if last is None and not self.head_path.exists():
            return GENESIS, 0
        if last is not None and '"hash":' in last and '"mac":' not in last:
            raise ConfigurationError(
                f"--audit {self.path} holds unkeyed lines (a plain SHA-256 chain, from before the chain was keyed), "
                "which anyone could re-chain; a keyed chain cannot continue it. Move it aside (keep it as evidence) "
                "and start again")
        head = read_head(self.head_path, self.key)
        if isinstance(head, str):
            raise ConfigurationError(f"--audit {self.path} has lines but {head}. Move the log aside (keep it as "
                                     "evidence: `tegridy-tokens audit verify` says what is wrong) and start again")
        try:
            entry = json.loads(last) if last is not None else None
        except ValueError:
            entry = None
        if (isinstance(entry, dict) and isinstance(entry.get("seq"), int) and entry["seq"] >= head[0]
                and entry.get("mac") == line_mac(self.key, entry)):
            return entry["mac"], entry["seq"]
        return head[1], head[0]

    def record(self, *, request_id: str, function: str, operation: str, principal: dict[str, str],
               requested: int, answered: int, failed: int, outcome: str, tokens: Iterable[str] = (),
               claimed_role: str | None = None, scopes: Iterable[str] | None = None,
               details: dict[str, Any] | None = None) -> str:
        """Writes one line and returns it; raises AuditUnavailable if it cannot be written. `scopes`:
        the scope names the request reached; `details`: an operation's own counts and references
        (an erase run's), never a value."""
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": request_id,
            "function": function, "operation": operation, "principal": principal, "outcome": outcome,
            "requested": requested, "answered": answered, "failed": failed,
        }
        tokens = list(tokens)
        if operation == "detokenize":
            entry["token_hmacs"] = [token_hmac(self.key, t) for t in tokens] if self.key else None
        if scopes is not None:
            entry["scopes"] = sorted(scopes)
        if details:
            entry.update(details)
        if claimed_role is not None:
            entry["role"] = {"claimed": claimed_role}
        if self.instance is not None:
            entry["instance"] = self.instance
        with self._lock:
            entry["seq"] = self._seq + 1
            entry["prev"] = self._prev if self.key else None
            entry["mac"] = line_mac(self.key, entry) if self.key else None
            line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
            try:
                if self.path is not None:
                    self._append(line, entry["seq"], entry["mac"])
                else:
                    stream = self.stream or sys.stdout
                    stream.write(line + "\n")
                    stream.flush()
            except (OSError, ValueError) as error:
                raise AuditUnavailable(f"the audit record could not be written ({type(error).__name__}); "
                                       "the request was refused and nothing was stored or revealed. Fix the audit "
                                       "destination (--audit PATH: a writable file) and try again") from None
            self._seq += 1
            self._prev = entry["mac"]
        return line

    def _append(self, line: str, seq: int, link: str) -> None:
        """The line (fsynced), then the head anchor: written to a temporary file, fsynced, renamed
        over the old one, so the anchor is always a whole one. A crash between the two leaves
        one line past the anchor, which `verify` accepts (it links under the key)."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary = Path(f"{self.head_path}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"seq": seq, "link": link, "mac": head_mac(self.key, seq, link)}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.head_path)


def _check_chain(lines: list[tuple[int, str]], key: bytes) -> tuple[str | None, int, str]:
    """(what is wrong or None, last seq, last link) of one chain of (line number, line)."""
    prev, expected_seq = GENESIS, 1
    for number, line in lines:
        try:
            entry = json.loads(line)
            seq, claimed_prev, mac = entry["seq"], entry["prev"], entry["mac"]
        except (ValueError, KeyError, TypeError):
            if '"hash":' in line:
                return (f"line {number}: an unkeyed record (a plain SHA-256 chain, written before the chain was keyed): "
                        "anyone could have re-chained it, so it proves nothing and is not verified"), 0, GENESIS
            return f"line {number}: not an audit record: it was changed", 0, GENESIS
        if mac is None:
            return (f"line {number}: written without an audit key ({KEY_VARIABLE} unset), so it has no link to "
                    "check; set the key"), 0, GENESIS
        if not isinstance(mac, str) or not hmac.compare_digest(mac, line_mac(key, entry)):
            return (f"line {number}: changed (its MAC does not match under the audit key: the line was edited, "
                    "or the chain was re-written without the key, or this is not the log's key)"), 0, GENESIS
        if seq != expected_seq:
            return (f"line {number}: sequence {seq} where {expected_seq} was expected: "
                    f"{'line(s) were removed before it' if isinstance(seq, int) and seq > expected_seq else 'lines were reordered or inserted'}"), 0, GENESIS
        if claimed_prev != prev:
            return (f"line {number}: its link to the line before does not match: a line before it was removed or "
                    "replaced"), 0, GENESIS
        prev, expected_seq = mac, expected_seq + 1
    return None, expected_seq - 1, prev


def verify(path: str | os.PathLike[str], key: bytes, head: str | os.PathLike[str] | None = None,
           checkpoint: str | None = None) -> tuple[bool, str]:
    """(ok, report) of a file log: every line links under `key`, and the log reaches its head
    anchor (default PATH.head) and the `checkpoint` ("SEQ:LINK", from an earlier report) if given.
    Names the first line that was changed or removed, counting from 1."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    problem, last_seq, last_link = _check_chain(list(enumerate(lines, start=1)), key)
    if problem:
        return False, problem
    anchor = read_head(Path(head) if head is not None else Path(f"{os.fspath(path)}{HEAD_SUFFIX}"), key)
    if isinstance(anchor, str):
        return False, anchor
    head_seq, head_link = anchor
    if last_seq < head_seq:
        return False, (f"the log ends at line {last_seq} but its head anchor records {head_seq} line(s): "
                       f"{head_seq - last_seq} line(s) were removed from the end")
    if not hmac.compare_digest(json.loads(lines[head_seq - 1])["mac"] if head_seq else GENESIS, head_link):
        return False, f"line {head_seq}: does not match the head anchor: lines up to it were replaced"
    if checkpoint is not None:
        problem = _check_point(lines, checkpoint)
        if problem:
            return False, problem
    beyond = last_seq - head_seq
    note = f"; {beyond} line(s) after the head anchor (the writer stopped before updating it)" if beyond else ""
    return True, (f"{len(lines)} line(s), chain intact under the audit key and reaching its head anchor{note}; "
                  f"checkpoint {last_seq}:{last_link} (keep it elsewhere: `--checkpoint` then also catches a head "
                  "anchor put back from an old copy)")


def _check_point(lines: list[str], checkpoint: str) -> str | None:
    seq_text, _, link = checkpoint.partition(":")
    if not seq_text.isdigit() or not link:
        return f"--checkpoint {checkpoint}: expected SEQ:LINK as a report printed it"
    seq = int(seq_text)
    if seq > len(lines):
        return (f"the log ends at line {len(lines)} but the checkpoint records {seq} line(s): lines were removed "
                "from the end (and the head anchor put back)")
    if not hmac.compare_digest(json.loads(lines[seq - 1])["mac"], link):
        return f"line {seq}: does not match the checkpoint: lines up to it were replaced"
    return None


def verify_instances(path: str | os.PathLike[str], key: bytes) -> tuple[bool, str]:
    """(ok, report) of lines exported from CloudWatch: each instance's lines form their own chain
    from seq 1. A gap or an edit shows; lines cut from the end of an instance's own stream cannot
    (there is no anchor on Lambda: docs/security.md says how to watch for that)."""
    chains: dict[str, list[tuple[int, str]]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            try:
                instance = json.loads(line).get("instance")
            except (ValueError, AttributeError):
                return False, f"line {number}: not an audit record: it was changed"
            chains.setdefault(str(instance), []).append((number, line))
    for instance, lines in chains.items():
        problem, _, _ = _check_chain(sorted(lines, key=lambda item: _seq_of(item[1])), key)
        if problem:
            return False, f"instance {instance}: {problem}"
    return True, (f"{len(chains)} instance(s), {sum(len(v) for v in chains.values())} line(s), each instance's chain "
                  "intact from its first line, with no gap (the end of each instance's stream is not anchored)")


def _seq_of(line: str) -> int:
    seq = json.loads(line).get("seq")
    return seq if isinstance(seq, int) else 0
