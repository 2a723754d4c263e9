"""The tombstone that replaces an erased token's sealed entry: when, why (the operator's reason
reference) and who erased it; never the value. It sits where the entry was, so a later tokenize
of the same value finds its token taken and stores nothing, and detokenize answers "erased".

    tombstone = b"\\xfetegridy-erased:" | JSON {"erased_at", "reason", "by"}

Its first byte is no sealing format (sealing.py's are 1 and 2), so it never opens and names no keyring.
"""

from __future__ import annotations

import json
import time

MARKER = b"\xfetegridy-erased:"


def make_tombstone(reason: str | None, by: str, erased_at: float | None = None) -> bytes:
    moment = time.gmtime(time.time() if erased_at is None else erased_at)
    document = {"erased_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment), "reason": reason, "by": by}
    return MARKER + json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def is_tombstone(entry: bytes) -> bool:
    return bytes(entry[:len(MARKER)]) == MARKER


def read_tombstone(entry: bytes) -> dict:
    return json.loads(bytes(entry[len(MARKER):]).decode("utf-8"))
