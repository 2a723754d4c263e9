"""`ingest track`: every new file in `landing` is validated and recorded, `pending` with its
size and ingest date, `quarantined` with its reason and moved to `quarantine`, or `duplicate`
(left where it is) when a file with the same bytes was tracked before. The record is
written first and conditionally, so two trackers never both take a file and a file is never
tracked twice; a file whose record says quarantined but which is still in landing (a tracker died
between the two steps) is moved now."""

from __future__ import annotations

import time
from typing import Any

from .config import ConfigError, IngestConfig
from .paths import FileSystem, join, relative_to
from .state import DUPLICATE, PENDING, QUARANTINED, SEEN, StateStore
from .validate import check, ingest_date

SKIPPED_SUFFIXES = ("._COPYING_", ".tmp")  # uploads still under way


def candidates(config: IngestConfig, fs: FileSystem) -> list:
    if not fs.exists(config.landing):
        raise ConfigError(f"[ingest] landing {config.landing} does not exist; create it, or correct `landing` "
                          "in the config")
    inside = tuple(root.rstrip("/") + "/" for root in (config.output, config.quarantine))
    found = []
    for info in fs.list_files(config.landing):
        name = info.path.rsplit("/", 1)[-1]
        # Names starting with _ or . are Hadoop's and Spark's own markers (_SUCCESS, .crc).
        if name.startswith(("_", ".")) or name.endswith(SKIPPED_SUFFIXES) or info.path.startswith(inside):
            continue
        found.append(info)
    return found


def track(config: IngestConfig, state: StateStore, fs: FileSystem) -> dict[str, Any]:
    files = candidates(config, fs)
    known = state.get_many("file", [f.path for f in files])
    tracked, quarantined, repaired, duplicates = [], [], [], []
    for info in files:
        record = known.get(info.path)
        relative = relative_to(info.path, config.landing)
        target = join(config.quarantine, relative)
        if record is not None:
            if record["status"] == QUARANTINED and record.get("location") == target and record.get("size") == info.size:
                fs.move(info.path, target)
                repaired.append(info.path)
            continue
        date, source = ingest_date(relative, config.date_pattern, time.time())
        reason = check(fs, info, config.size_band)
        fields = {"size": info.size, "date": date, "date_from": source, "modified_at": info.modified_s}
        first = _first_with_content(state, fs, info.path) if reason is None else None
        if first is not None:
            if state.create("file", info.path, DUPLICATE, location=info.path, duplicate_of=first,
                            reason=f"same content as {first}", **fields):
                duplicates.append({"file": info.path, "duplicate_of": first})
        elif reason is None:
            if state.create("file", info.path, PENDING, location=info.path, **fields):
                tracked.append(info.path)
        elif state.create("file", info.path, QUARANTINED, reason=reason, location=target, **fields):
            fs.move(info.path, target)
            quarantined.append({"file": info.path, "reason": reason})
    return {"scanned": len(files), "tracked": len(tracked), "quarantined": quarantined, "duplicates": duplicates,
            "already_tracked": len(files) - len(tracked) - len(quarantined) - len(duplicates),
            "moved_to_quarantine_late": repaired}


def _first_with_content(state: StateStore, fs: FileSystem, path: str) -> str | None:
    """The file first tracked with this file's content (by SHA-256), or None if this is the first.
    The content's record is a conditional insert, so of two trackers meeting two copies at once
    exactly one is first."""
    digest = fs.content_hash(path)
    if state.create("content", digest, SEEN, file=path):
        return None
    first = state.get("content", digest)["file"]
    return None if first == path else first
