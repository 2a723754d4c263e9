"""The `state` commands: the state manager (get, list, stats, timeline, orphans,
reset-stuck, validate, update, batch-update) over either store. Every change is a guarded move
(`state.machine`); a batch is checked as a whole before its first write, so an illegal batch
changes nothing."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from .build import LOCK
from .claims import claim_is_dead, release
from .config import IngestConfig
from .paths import FileSystem
from .run import partition_dir
from .state import (COMPLETED, DROPPED, FAILED, FILE_STATUSES, MANIFEST_STATUSES, MANIFESTED, PENDING, PROCESSING,
                    QUARANTINED, IllegalTransition, NotTracked, StateStore)
from .state.machine import check_move
from .track import candidates

IN_FLIGHT = (PENDING, MANIFESTED, PROCESSING)
# A file in one of these statuses belongs to a manifest and moves only with it.
IN_MANIFEST = (MANIFESTED, PROCESSING, COMPLETED, FAILED)


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def summary(record: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in record.items() if k not in ("history", "files")}
    for key in ("created_at", "updated_at", "modified_at"):
        if key in shown:
            shown[key] = iso(shown[key])
    if "files" in record:
        shown["file_count"] = len(record["files"])
    return shown


def _resolve(state: StateStore, key: str) -> tuple[str, dict[str, Any]]:
    for kind in ("file", "manifest"):
        record = state.get(kind, key)
        if record is not None:
            return kind, record
    raise NotTracked(f"{key} is neither a tracked file nor a manifest id; "
                     "`tegridy-tokens state list --status S` shows what is tracked")


def get(state: StateStore, key: str) -> dict[str, Any]:
    kind, record = _resolve(state, key)
    shown = summary(record)
    if kind == "manifest":
        shown["files"] = record["files"]
    return {"kind": kind, **shown}


def list_status(state: StateStore, status: str, kind: str = "file") -> dict[str, Any]:
    statuses = FILE_STATUSES if kind == "file" else MANIFEST_STATUSES
    if status not in statuses:
        raise IllegalTransition(f"{status!r} is not a {kind} status; the statuses are {', '.join(statuses)}")
    records = state.scan(kind, status)
    return {"kind": kind, "status": status, "count": len(records), "items": [summary(r) for r in records]}


def stats(state: StateStore) -> dict[str, Any]:
    files: dict[str, dict[str, int]] = {s: {"count": 0, "bytes": 0} for s in FILE_STATUSES}
    for record in state.scan("file"):
        files[record["status"]]["count"] += 1
        files[record["status"]]["bytes"] += record.get("size", 0)
    manifests: dict[str, dict[str, int]] = {s: {"count": 0, "files": 0, "bytes": 0} for s in MANIFEST_STATUSES}
    rows = corrupt = 0
    for record in state.scan("manifest"):
        entry = manifests[record["status"]]
        entry["count"] += 1
        entry["files"] += record["file_count"]
        entry["bytes"] += record["bytes"]
        if record["status"] == COMPLETED:
            rows += record.get("rows", 0)
            corrupt += record.get("corrupt_rows", 0)
    return {"files": files, "manifests": manifests, "rows_written": rows, "corrupt_rows": corrupt,
            "files_total": sum(e["count"] for e in files.values()),
            "bytes_total": sum(e["bytes"] for e in files.values())}


def timeline(state: StateStore, key: str) -> dict[str, Any]:
    kind, record = _resolve(state, key)
    events = [{"at": iso(e["at"]), "status": e["status"], **({"reason": e["reason"]} if e.get("reason") else {}),
               "of": kind} for e in record["history"]]
    if kind == "file" and record.get("manifest_id"):
        manifest = state.get("manifest", record["manifest_id"])
        events += [{"at": iso(e["at"]), "status": e["status"], "of": f"manifest {record['manifest_id']}",
                    **({"reason": e["reason"]} if e.get("reason") else {})} for e in (manifest or {}).get("history", [])]
    events.sort(key=lambda e: e["at"])
    return {"kind": kind, "key": key, "status": record["status"], "events": events}


def orphans(config: IngestConfig, state: StateStore, fs: FileSystem, now: float | None = None) -> dict[str, Any]:
    """Stuck records (in pending/manifested/processing longer than `stuck_after`), landed files
    with no record, and records whose file is gone."""
    now = time.time() if now is None else now
    files = state.scan("file")
    stuck = [summary(r) for r in files if r["status"] in IN_FLIGHT and now - r["updated_at"] > config.stuck_after_s]
    stuck += [{"kind": "manifest", **summary(r)} for r in state.scan("manifest", PROCESSING)
              if now - r["updated_at"] > config.stuck_after_s]
    known = {r["key"] for r in files}
    untracked = [f.path for f in candidates(config, fs) if f.path not in known]
    missing = [{"file": r["key"], "status": r["status"], "location": r["location"]} for r in files
               if r["status"] != COMPLETED and not fs.exists(r["location"])]
    staging = leftover_staging(config, state, fs, now)
    return {"stuck": stuck, "untracked": untracked, "missing": missing, "staging": staging,
            "count": len(stuck) + len(untracked) + len(missing) + len(staging)}


def leftover_staging(config: IngestConfig, state: StateStore, fs: FileSystem, now: float | None = None) -> list[dict]:
    """`_staging/<id>/` folders no live run is writing: their manifest is not processing under a
    live claim (a failed or killed run's, or a manifest unknown to the state)."""
    now = time.time() if now is None else now
    found = []
    for folder in fs.list_dirs(config.staging_dir):
        manifest_id = folder.rstrip("/").rsplit("/", 1)[-1]
        record = state.get("manifest", manifest_id)
        if record and record["status"] == PROCESSING and not claim_is_dead(record, now):
            continue
        found.append({"manifest": manifest_id, "path": folder, "status": record["status"] if record else None})
    return found


def clean_staging(config: IngestConfig, state: StateStore, fs: FileSystem) -> dict[str, Any]:
    """Removes the leftover staging folders (`leftover_staging`); a live run's is never touched."""
    removed = []
    for leftover in leftover_staging(config, state, fs):
        fs.delete(leftover["path"])
        removed.append(leftover["manifest"])
    return {"removed": removed}


def reset_stuck(state: StateStore, older_than_s: float, now: float | None = None) -> dict[str, Any]:
    """Manifests (and their files) in processing for longer than `older_than_s` whose claim is
    dead (lease run out, or its runner gone) go back to manifested, for `ingest run` to take again;
    its output is replaced, never added to. A manifest whose runner still renews its lease is busy,
    not stuck, and is left alone."""
    now = time.time() if now is None else now
    reset_manifests, reset_files, busy = [], [], []
    for manifest in state.scan("manifest", PROCESSING):
        if now - manifest["updated_at"] < older_than_s:
            continue
        if not claim_is_dead(manifest, now):
            busy.append(manifest["key"])
            continue
        reset_files += release(state, manifest, "reset-stuck")
        reset_manifests.append(manifest["key"])
    # A file left in processing by a manifest that is no longer processing.
    for record in state.scan("file", PROCESSING):
        manifest = state.get("manifest", record.get("manifest_id") or "")
        if record["key"] in reset_files or (manifest and manifest["status"] == PROCESSING):
            continue
        if now - record["updated_at"] >= older_than_s:
            state.move("file", record["key"], MANIFESTED, expect=PROCESSING, reason="reset-stuck")
            reset_files.append(record["key"])
    return {"manifests": reset_manifests, "files": reset_files, "busy": busy}


def validate(config: IngestConfig, state: StateStore, fs: FileSystem) -> dict[str, Any]:
    """State against disk: every record's file where its status says, every manifest's files in
    the manifest's status, every completed manifest's output present and every output folder
    owned by a completed manifest."""
    problems: list[dict[str, str]] = []
    files = {r["key"]: r for r in state.scan("file")}
    manifests = {r["key"]: r for r in state.scan("manifest")}
    for key, record in files.items():
        if record["status"] != COMPLETED and not fs.exists(record["location"]):
            problems.append({"key": key, "problem": f"{record['status']} but its file {record['location']} is missing"})
        if record["status"] == QUARANTINED and fs.exists(key) and record["location"] != key:
            problems.append({"key": key, "problem": "quarantined but still in landing (run `ingest track` to move it)"})
        if record["status"] in IN_MANIFEST and record.get("manifest_id") not in manifests:
            problems.append({"key": key, "problem": f"{record['status']} in manifest {record.get('manifest_id')}, "
                                                    "which does not exist"})
    for key, manifest in manifests.items():
        if manifest["status"] == DROPPED:
            continue  # its files went back to pending and live on in other manifests
        for member in manifest["files"]:
            record = files.get(member)
            if record is None or record["status"] != manifest["status"] or record.get("manifest_id") != key:
                problems.append({"key": key, "problem": f"manifest is {manifest['status']} but its file {member} is "
                                                        f"{record['status'] if record else 'not tracked'}"})
        if manifest["status"] == COMPLETED and not fs.exists(partition_dir(config.output, manifest["date"], key)):
            problems.append({"key": key, "problem": "completed but its output folder is missing"})
    for date_dir in fs.list_dirs(config.output):
        if not re.search(r"/_ingest_date=[^/]+$", date_dir):
            continue
        for folder in fs.list_dirs(date_dir):
            owner = re.search(r"/_manifest_id=([^/]+)$", folder)
            if owner and manifests.get(owner.group(1), {}).get("status") != COMPLETED:
                problems.append({"key": owner.group(1), "problem": f"output {folder} belongs to no completed manifest "
                                                                   "(a run died after its commit; run it again)"})
    for leftover in leftover_staging(config, state, fs):
        problems.append({"key": leftover["manifest"], "problem": f"leftover staging {leftover['path']} (manifest "
                                                                 f"{leftover['status'] or 'unknown'}); remove it with "
                                                                 "`tegridy-tokens state clean-staging`"})
    holder = state.lock_holder(LOCK)
    return {"ok": not problems, "problems": problems, "files": len(files), "manifests": len(manifests),
            "lock": holder and {"owner": holder["owner"], "expires_at": iso(holder["expires_at"])}}


def update(state: StateStore, fs: FileSystem, key: str, status: str, reason: str | None = None) -> dict[str, Any]:
    kind, record = _resolve(state, key)
    reason = reason or "operator update"
    if kind == "manifest":
        members = _check_manifest_move(state, record, status)
        moved = _move_manifest(state, record, members, status, reason)
        return {"kind": kind, **summary(moved), "files_moved": len(members)}
    if _in_manifest(record):
        manifest = record["manifest_id"]
        raise IllegalTransition(f"file {key} is in manifest {manifest}, which moves with all its files: "
                                f"`tegridy-tokens state update {manifest} --status {status}`")
    fields = {}
    if record["status"] == QUARANTINED and status == PENDING:
        # Released from quarantine: processed from where it is now (re-landed, or still in quarantine).
        fields["location"] = key if fs.exists(key) else record["location"]
    if status == PENDING:
        fields["manifest_id"] = None
    return {"kind": kind, **summary(state.move("file", key, status, expect=record["status"], reason=reason, **fields))}


def _in_manifest(record: dict[str, Any]) -> bool:
    return record["status"] in IN_MANIFEST and bool(record.get("manifest_id"))


def _check_manifest_move(state: StateStore, manifest: dict[str, Any], status: str) -> dict[str, dict]:
    """Refuses (before any write) a move of the manifest or of any of its files; its files.
    Files going back to pending drop the manifest (they are batched again)."""
    check_move("manifest", manifest["key"], manifest["status"], DROPPED if status == PENDING else status)
    members = state.get_many("file", manifest["files"])
    for key in manifest["files"]:
        member = members.get(key)
        if member is None or member.get("manifest_id") != manifest["key"] or member["status"] != manifest["status"]:
            raise IllegalTransition(f"manifest {manifest['key']} is {manifest['status']} but its file {key} is "
                                    f"{member['status'] if member else 'not tracked'}; repair that file first "
                                    "(`tegridy-tokens state validate` lists such problems)")
        check_move("file", key, member["status"], status)
    return members


def _move_manifest(state: StateStore, manifest: dict[str, Any], members: dict[str, dict], status: str,
                   reason: str) -> dict[str, Any]:
    target = DROPPED if status == PENDING else status
    moved = state.move("manifest", manifest["key"], target, expect=manifest["status"], reason=reason)
    fields = {"manifest_id": None} if status == PENDING else {}
    for member in members.values():
        state.move("file", member["key"], status, expect=member["status"], reason=reason, **fields)
    return moved


def batch_update(state: StateStore, source: str, target: str, older_than_s: float | None = None,
                 now: float | None = None) -> dict[str, Any]:
    """Every file in `source` (unchanged for `older_than_s`) to `target`; a file of a manifest moves
    with its manifest and all its files, so a batch that holds only part of a manifest is refused,
    like an illegal move, before anything changes."""
    now = time.time() if now is None else now
    if source not in FILE_STATUSES:
        raise IllegalTransition(f"{source!r} is not a file status; the statuses are {', '.join(FILE_STATUSES)}")
    check_move("file", "(batch)", source, target)
    chosen = [r for r in state.scan("file", source) if older_than_s is None or now - r["updated_at"] >= older_than_s]
    keys = {r["key"] for r in chosen}
    alone = [r for r in chosen if not _in_manifest(r)]
    manifests = state.get_many("manifest", [r["manifest_id"] for r in chosen if _in_manifest(r)])
    plans = []
    for manifest in manifests.values():
        members = _check_manifest_move(state, manifest, target)
        outside = sorted(set(manifest["files"]) - keys)
        if outside:
            raise IllegalTransition(f"manifest {manifest['key']} has {len(outside)} file(s) outside this batch (e.g. "
                                    f"{outside[0]}); a manifest moves with all its files: `tegridy-tokens state update "
                                    f"{manifest['key']} --status {target}`")
        plans.append((manifest, members))
    fields = {"manifest_id": None} if target == PENDING else {}
    moved = [state.move("file", r["key"], target, expect=source, reason="operator batch update", **fields)["key"]
             for r in alone]
    for manifest, members in plans:
        _move_manifest(state, manifest, members, target, "operator batch update")
        moved += list(members)
    return {"from": source, "to": target, "moved": len(moved), "files": moved, "manifests": [m["key"] for m, _ in plans]}
