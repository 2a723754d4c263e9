"""Checking a landed file before it is tracked (the gate against truncated uploads and
wrong file types): its size is inside the band, its name is NDJSON's, and at least one of its
first lines is a JSON object. A malformed line further on (or among the first, when another
parses) is not the file's fault: the Spark job keeps it, tokenized, in `_corrupt/`.
Reasons name sizes and rules, never the file's content."""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime, timezone

from .paths import FileInfo, FileSystem

NAMES = (".json", ".ndjson", ".json.gz", ".ndjson.gz")
HEAD_BYTES = 1024 * 1024
FIRST_LINES = 5


def _size(n: float) -> str:
    return f"{n / 1024 / 1024:.2f} MB" if n >= 10 * 1024 else f"{int(n)} B"


def check(fs: FileSystem, info: FileInfo, band: tuple[int, int]) -> str | None:
    """None when the file is acceptable, else the reason it is quarantined."""
    name = info.path.rsplit("/", 1)[-1].lower()
    if not name.endswith(NAMES):
        return f"name does not end in {', '.join(NAMES)}"
    low, high = band
    if not low <= info.size <= high:
        return f"size {_size(info.size)} is outside the accepted band {_size(low)} to {_size(high)}"
    head = fs.read_head(info.path, HEAD_BYTES)
    if name.endswith(".gz"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
        except zlib.error:
            return "name ends in .gz but the file is not gzip"
    lines = head.split(b"\n")
    if len(head) >= HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last one was cut by the read
    elif len(head) >= HEAD_BYTES:
        return None  # one line longer than the head: too long to judge here; Spark will
    candidates = [line for line in lines if line.strip()][:FIRST_LINES]
    if not candidates:
        return "no lines"
    for line in candidates:
        try:
            if isinstance(json.loads(line), dict):
                return None
        except (ValueError, UnicodeDecodeError):
            continue
    return f"none of the first {len(candidates)} line(s) is a JSON object"


def ingest_date(path: str, pattern: str, now: float) -> tuple[str, str]:
    """(date, where it came from): the pattern's group in the path, else the day it was tracked."""
    match = re.search(pattern, path)
    if match and re.fullmatch(r"[0-9A-Za-z._-]+", match.group(1) or ""):
        return match.group(1), "path"
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d"), "tracked"
