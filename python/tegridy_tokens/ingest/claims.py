"""Which runner works on a manifest: a claim is the conditional move of the manifest to
`processing` (only if it is still in the status the runner read), recorded with the runner's
identity (`owner`, host:pid:nonce) and a lease (`lease_expires_at`) that a thread renews while the
job runs. Another runner never takes a manifest whose claim is live; a claim is dead once its lease
has run out, or at once when its owner was a process on this host that no longer exists (a
kill -9), so `reset-stuck` and the next `ingest run` take back the stuck and leave the busy alone."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Any

from .state import FAILED, MANIFESTED, PROCESSING, StateConflict, StateStore

HOST = socket.gethostname()


def new_owner() -> str:
    """host:pid:nonce, unique per runner (and per lock holder): the host and pid tell whether it
    is still alive."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False  # another machine's process: only its lease tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_is_dead(record: dict[str, Any], now: float) -> bool:
    """True when a processing manifest's claim no longer protects it: no owner recorded, its lease
    ran out, or its owner was a process on this host that is gone."""
    owner = record.get("owner")
    if not owner or record.get("lease_expires_at") is None:
        return True
    return record["lease_expires_at"] <= now or _owner_is_dead(owner)


def claimable_status(record: dict[str, Any], max_attempts: int, now: float) -> str | None:
    """The status an automatic `ingest run` may claim this manifest from, or None: manifested;
    failed with attempts left; processing whose claim is dead."""
    status = record["status"]
    if status == MANIFESTED:
        return status
    if status == FAILED and record.get("attempts", 0) < max_attempts:
        return status
    if status == PROCESSING and claim_is_dead(record, now):
        return status
    return None


def release(state: StateStore, manifest: dict[str, Any], reason: str) -> list[str]:
    """A processing manifest whose claim is dead, and its processing files, back to manifested
    (conditionally: a runner that renewed meanwhile wins); the files moved."""
    state.move("manifest", manifest["key"], MANIFESTED, expect=PROCESSING,
               expect_fields={"owner": manifest.get("owner")}, reason=reason)
    moved = []
    for key in manifest["files"]:
        record = state.get("file", key)
        if record and record["status"] == PROCESSING:
            state.move("file", key, MANIFESTED, expect=PROCESSING, reason=reason)
            moved.append(key)
    return moved


def claim(state: StateStore, manifest_id: str, expect: str, owner: str, lease_s: float) -> dict[str, Any]:
    """Moves the manifest to processing if it is still `expect` (manifested or failed), with our
    owner, a lease and one more attempt; raises StateConflict when another runner got there first."""
    record = state.get("manifest", manifest_id)
    if record is None or record["status"] != expect:
        raise StateConflict(f"manifest {manifest_id} is no longer {expect}")
    return state.move("manifest", manifest_id, PROCESSING, expect=expect, owner=owner,
                      lease_expires_at=state.clock() + lease_s, attempts=record.get("attempts", 0) + 1)


class Lease:
    """Renews a claim's lease every quarter of its length until `stop`; stops by itself when the
    claim is no longer ours (then the final move, conditional on the owner, is refused)."""

    def __init__(self, state: StateStore, manifest_id: str, owner: str, lease_s: float):
        self.state, self.manifest_id, self.owner, self.lease_s = state, manifest_id, owner, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{manifest_id}", daemon=True)

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            try:
                self.state.update_fields("manifest", self.manifest_id, expect={"status": PROCESSING, "owner": self.owner},
                                         lease_expires_at=self.state.clock() + self.lease_s)
            except StateConflict:
                return
            except Exception:  # a state hiccup: the lease has time left, so try again at the next beat
                continue
