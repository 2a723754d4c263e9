"""`ingest manifest`: under the lock, pending files become manifests (rules in `manifests`).
For each manifest its files are moved pending -> manifested one conditional write at a time
(DynamoDB transactions stop at 100 items, a manifest has up to 200), then the manifest JSON is
written beside the output, then the manifest's record. If any file was taken meanwhile (the lock
expired under a stalled builder), the files already moved go back to pending and that manifest is
dropped: a file is never in two manifests even when the lock fails."""

from __future__ import annotations

import json
import time
from typing import Any

from .claims import new_owner
from .config import IngestConfig
from .manifests import new_id, plan
from .paths import FileSystem, join
from .state import MANIFESTED, PENDING, StateConflict, StateStore

LOCK = "manifest-builder"


def build(config: IngestConfig, state: StateStore, fs: FileSystem, flush: bool) -> dict[str, Any]:
    owner = new_owner()
    if not state.acquire_lock(LOCK, owner, config.lock_ttl_seconds):
        holder = state.lock_holder(LOCK) or {}
        return {"lock": "busy", "holder": holder.get("owner"), "manifests": [],
                "message": "another builder holds the lock; it will batch the pending files"}
    made: list[dict[str, Any]] = []
    dropped = 0
    try:
        pending = state.scan("file", PENDING)
        for group in plan(pending, config.max_files_per_manifest, config.max_batch_bytes, flush):
            # Renewing before each manifest keeps a long build's lock alive; losing it means stop.
            if not state.acquire_lock(LOCK, owner, config.lock_ttl_seconds):
                break
            manifest = _make_one(config, state, fs, group)
            if manifest is None:
                dropped += 1
            else:
                made.append(manifest)
    finally:
        state.release_lock(LOCK, owner)
    left = len(state.scan("file", PENDING))
    return {"lock": "acquired", "manifests": made, "dropped_on_conflict": dropped, "pending_left": left}


def _make_one(config: IngestConfig, state: StateStore, fs: FileSystem, group: list[dict]) -> dict[str, Any] | None:
    manifest_id = new_id(time.time())
    moved: list[str] = []
    try:
        for record in group:
            state.move("file", record["key"], MANIFESTED, expect=PENDING, manifest_id=manifest_id)
            moved.append(record["key"])
    except StateConflict:
        for key in moved:
            state.move("file", key, PENDING, expect=MANIFESTED, manifest_id=None)
        return None
    files = [{"file": r["key"], "location": r["location"], "size": r["size"]} for r in group]
    total = sum(r["size"] for r in group)
    document = {"id": manifest_id, "date": group[0]["date"], "files": files, "file_count": len(files),
                "bytes": total, "created_at": time.time()}
    path = join(config.manifests_dir, manifest_id + ".json")
    fs.write_text(path, json.dumps(document, indent=1))
    state.create("manifest", manifest_id, MANIFESTED, date=document["date"], files=[f["file"] for f in files],
                 file_count=len(files), bytes=total, manifest_path=path)
    return {"id": manifest_id, "date": document["date"], "files": len(files), "bytes": total, "path": path}
