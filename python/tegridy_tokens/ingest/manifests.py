"""Grouping pending files into manifests: oldest first, at most `max_files` files and
`max_bytes` bytes each; a last, partial manifest is made only when it is more than half full (by
files or by bytes), or always with `flush`. A manifest holds the files of one ingest date, so its
output is one partition folder, which one rename commits whole (see `run`)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable


def plan(files: Iterable[dict[str, Any]], max_files: int, max_bytes: int, flush: bool) -> list[list[dict[str, Any]]]:
    """The manifests to make, each a list of file records; pure, so the rules are tested alone."""
    by_date: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(files, key=lambda r: (r["created_at"], r["key"])):
        by_date[record["date"]].append(record)
    groups: list[list[dict[str, Any]]] = []
    for date in sorted(by_date):
        current: list[dict[str, Any]] = []
        size = 0
        for record in by_date[date]:
            # A single file above max_bytes still gets a manifest of its own rather than waiting forever.
            if current and (len(current) >= max_files or size + record["size"] > max_bytes):
                groups.append(current)
                current, size = [], 0
            current.append(record)
            size += record["size"]
        if current and (flush or is_over_half(len(current), size, max_files, max_bytes)):
            groups.append(current)
    return groups


def is_over_half(count: int, size: int, max_files: int, max_bytes: int) -> bool:
    return count / max_files > 0.5 or size / max_bytes > 0.5


def new_id(now: float) -> str:
    """Sortable by creation time, unique across builders: m-20260124T101500Z-<8 hex>."""
    return "m-" + datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
