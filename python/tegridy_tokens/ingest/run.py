"""`ingest run`: one Spark job per manifest, committed whole.

The runner claims the manifest (a conditional move to `processing` with its owner and a lease,
see `claims`) and moves its files with it; the job writes into `_staging/<manifest>/`; then
the commit replaces the manifest's partition folder `_ingest_date=D/_manifest_id=M/` (and its
`_corrupt/` twin) by the staged one, each with one rename; only then do manifest and files go to
`completed`. A reader therefore sees a manifest's files all or none (a rename is atomic on local
disks and HDFS; on S3 it is a copy, so readers should only trust completed manifests), and a
re-run, after a crash at any point, replaces its own folder instead of adding to it. A failure
moves them to `failed` with a reason that names a cause, never a value."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import datetime, timezone
from typing import Any, Callable

from .claims import Lease, claim, claim_is_dead, claimable_status, release
from .config import IngestConfig
from .convert import ConversionError, Converted, convert
from .paths import FileSystem, join, spark_uri
from .state import COMPLETED, FAILED, MANIFESTED, PROCESSING, NotTracked, StateConflict, StateStore
from .state.machine import check_move

# Tests only: kill this process at a named point ("after-write": staged, nothing committed;
# "after-commit": output in place, state still processing), as a crash would.
CRASH_POINT = "TEGRIDY_INGEST_CRASH_AT"


def partition_dir(root: str, date: str, manifest_id: str) -> str:
    return join(root, f"_ingest_date={date}", f"_manifest_id={manifest_id}")


def _crash_if(point: str) -> None:
    if os.environ.get(CRASH_POINT) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def runnable(state: StateStore, max_attempts: int, now: float) -> list[dict[str, Any]]:
    """What an automatic `ingest run` may claim, oldest first: manifested manifests, failed ones
    with attempts left, and processing ones whose claim is dead. Each is claimed conditionally,
    so a stale listing never lets two runners take one manifest."""
    found = [record for status in (MANIFESTED, FAILED, PROCESSING) for record in state.scan("manifest", status)
             if claimable_status(record, max_attempts, now)]
    return sorted(found, key=lambda r: (r["created_at"], r["key"]))


def run_manifest(config: IngestConfig, state: StateStore, fs: FileSystem, spark: Callable[[], Any], manifest_id: str,
                 owner: str, expect: str | None = None, tokenize: bool = True) -> dict[str, Any]:
    """Claims the manifest (from `expect`, or from whatever status it is in when named by the
    operator), runs its job under a renewed lease and commits it. `spark` is called only once the
    claim is ours, so a runner that finds nothing to do starts no Spark."""
    current = state.get("manifest", manifest_id)
    if current is None:
        raise NotTracked(f"manifest {manifest_id} does not exist; `tegridy-tokens state list --status manifested "
                         "--manifests` lists the manifests")
    status = expect or current["status"]
    if current["status"] != status:
        raise StateConflict(f"manifest {manifest_id} is {current['status']} now, no longer {status}")
    if status == PROCESSING and not claim_is_dead(current, state.clock()):
        raise StateConflict(f"manifest {manifest_id} is being processed by {current.get('owner')} (its lease is live); "
                            "`tegridy-tokens state reset-stuck` takes back only dead claims")
    members = state.get_many("file", current["files"])
    # Every move is checked before the first is made, so a refused run changes nothing.
    check_move("manifest", manifest_id, MANIFESTED if status == PROCESSING else status, PROCESSING)
    for key in current["files"]:
        member = members.get(key)
        if member is None or member.get("manifest_id") != manifest_id:
            raise StateConflict(f"file {key} of manifest {manifest_id} is no longer in it; "
                                "`tegridy-tokens state validate` shows the state's problems")
        check_move("file", key, MANIFESTED if member["status"] == PROCESSING else member["status"], PROCESSING)
    if status == PROCESSING:
        release(state, current, "claim expired")
        status = MANIFESTED
    manifest = claim(state, manifest_id, status, owner, config.lease_seconds)
    mine = {"owner": owner}
    for key in manifest["files"]:
        state.move("file", key, PROCESSING, expect=(MANIFESTED, FAILED, COMPLETED))
    started = time.time()
    error: BaseException | None = None
    with Lease(state, manifest_id, owner, config.lease_seconds):
        try:
            result, output = _job(config, state, fs, spark(), manifest, started, tokenize)
        except BaseException as caught:
            error = caught
    if error is not None:
        reason = failure_reason(error)
        fs.delete(join(config.staging_dir, manifest_id))
        state.move("manifest", manifest_id, FAILED, expect=PROCESSING, expect_fields=mine, reason=reason)
        for key in manifest["files"]:
            state.move("file", key, FAILED, expect=PROCESSING, reason=reason)
        if not isinstance(error, Exception):
            raise error
        return {"manifest": manifest_id, "status": FAILED, "reason": reason, "attempts": manifest["attempts"]}
    seconds = time.time() - started
    figures = {"rows": result.rows, "corrupt_rows": result.corrupt_rows, "output_files": result.output_files,
               "seconds": round(seconds, 3), "output": output}
    state.move("manifest", manifest_id, COMPLETED, expect=PROCESSING, expect_fields=mine, **figures)
    for key in manifest["files"]:
        state.move("file", key, COMPLETED, expect=PROCESSING)
    return {"manifest": manifest_id, "status": COMPLETED, "files": len(manifest["files"]), "bytes": manifest["bytes"],
            **figures, "rows_per_s": round(result.rows / seconds, 1) if seconds else None}


def _job(config: IngestConfig, state: StateStore, fs: FileSystem, spark: Any, manifest: dict[str, Any],
         started: float, tokenize: bool) -> tuple[Converted, str]:
    """The Spark job into `_staging/<id>/`, then the commit: one rename per output folder."""
    manifest_id = manifest["key"]
    records = state.get_many("file", manifest["files"])
    locations = [records[key]["location"] for key in manifest["files"]]
    missing = [location for location in locations if not fs.exists(location)]
    if missing:
        raise ConversionError(f"{len(missing)} input file(s) of the manifest are gone, e.g. {missing[0]}")
    staging = join(config.staging_dir, manifest_id)
    ingested_at = datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")
    result = convert(spark, [spark_uri(x) for x in locations], spark_uri(staging), ingested_at, config.pii_columns,
                     manifest["bytes"], int(config.target_file_size_mb * 1024 * 1024), tokenize=tokenize)
    _crash_if("after-write")
    output = partition_dir(config.output, manifest["date"], manifest_id)
    corrupt = partition_dir(config.corrupt_dir, manifest["date"], manifest_id)
    fs.delete(output)
    fs.move(join(staging, "data"), output)
    fs.delete(corrupt)
    if result.corrupt_rows:
        fs.move(join(staging, "corrupt"), corrupt)
    fs.delete(staging)
    _crash_if("after-commit")
    return result, output


def failure_reason(error: BaseException) -> str:
    """A cause a person can act on, never a value: our own errors and Tegridy's (value-free by
    contract) keep their message; any other error only its type, since Spark's messages can
    quote data."""
    if isinstance(error, (ConversionError, OSError)):
        return f"{type(error).__name__}: {error}"
    text = str(error)
    found = re.search(r"(com\.tegridy\.[\w.$]+(?:Exception|Error)): ([^\n]*)", text)
    if found:
        return f"{found.group(1)}: {found.group(2)[:500]}"
    java = re.search(r"\b((?:org|java|scala)\.[\w.$]+(?:Exception|Error))\b", text)
    kind = java.group(1) if java else type(error).__name__
    return f"the Spark job failed with {kind} (its message is not recorded, as it may quote data; see the driver log)"
