"""The state table on both backends (SQLite, and DynamoDB on DynamoDB Local): guarded
transitions and the refusal of illegal ones, the lock's conditional write and TTL, two
`ingest manifest` processes at once, and every `state` operation through the CLI with --json."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest_helpers import cli_json, land, write_config
from tegridy_tokens.ingest import operations
from tegridy_tokens.ingest.build import LOCK, build
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.paths import LocalFileSystem
from tegridy_tokens.ingest.state import (COMPLETED, FAILED, MANIFESTED, PENDING, PROCESSING, QUARANTINED,
                                         IllegalTransition, StateConflict, open_state)
from tegridy_tokens.ingest.track import track


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request, tmp_path):
    """(state URL, env for child processes) of a new, empty state table."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}", {}
    env = request.getfixturevalue("aws_env")
    return f"dynamodb://ingest-{uuid.uuid4().hex[:12]}", env


def test_transitions_are_guarded(backend):
    store = open_state(backend[0])
    assert store.create("file", "a.json", PENDING, size=1)["version"] == 1
    assert store.create("file", "a.json", PENDING, size=1) is None  # never tracked twice
    with pytest.raises(IllegalTransition) as error:
        store.move("file", "a.json", COMPLETED)
    assert str(error.value) == ("file a.json is pending; pending -> completed is not allowed "
                                "(allowed from pending: manifested, quarantined)")
    for status in (MANIFESTED, PROCESSING, COMPLETED):
        store.move("file", "a.json", status)
    with pytest.raises(IllegalTransition, match="completed -> pending is not allowed"):
        store.move("file", "a.json", PENDING)
    with pytest.raises(IllegalTransition, match="'done' is not a file status"):
        store.move("file", "a.json", "done")
    with pytest.raises(StateConflict, match="is completed, expected manifested"):
        store.move("file", "a.json", PROCESSING, expect=MANIFESTED)
    record = store.get("file", "a.json")
    assert [e["status"] for e in record["history"]] == [PENDING, MANIFESTED, PROCESSING, COMPLETED]
    assert record["version"] == 4 and record["size"] == 1


def test_a_stale_writer_loses(backend):
    first, second = open_state(backend[0]), open_state(backend[0])
    first.create("file", "b.json", PENDING)
    stale = second.get("file", "b.json")
    first.move("file", "b.json", MANIFESTED)
    assert not second._replace("file", "b.json", {**stale, "status": QUARANTINED, "version": 2}, stale["version"])
    assert first.get("file", "b.json")["status"] == MANIFESTED


def test_the_lock_is_a_conditional_write_with_a_ttl(backend):
    clock = Clock()
    a, b = open_state(backend[0], clock=clock), open_state(backend[0], clock=clock)
    assert a.acquire_lock(LOCK, "builder-a", 300)
    assert not b.acquire_lock(LOCK, "builder-b", 300)
    assert a.acquire_lock(LOCK, "builder-a", 300)  # the holder renews
    clock.now += 299
    assert not b.acquire_lock(LOCK, "builder-b", 300)
    clock.now += 2  # the holder died: its lock expires and does not block forever
    assert b.acquire_lock(LOCK, "builder-b", 300)
    assert not a.release_lock(LOCK, "builder-a")  # a late holder cannot free the new holder's lock
    assert b.lock_holder(LOCK)["owner"] == "builder-b"
    assert b.release_lock(LOCK, "builder-b") and a.acquire_lock(LOCK, "builder-a", 300)


def _landed(tmp_path, count: int, state: str):
    config_path = write_config(tmp_path, state=state, expected_file_size_mb=0.001, size_tolerance_percent=99,
                               max_files_per_manifest=7)
    for i in range(count):
        land(tmp_path, f"2026-02-0{1 + i % 2}/f{i:03d}.ndjson", [{"id": i}])
    config = load_config(config_path)
    return config_path, config


def _manifest_files(store) -> list[str]:
    return [key for m in store.scan("manifest") for key in m["files"]]


def test_builders_without_the_lock_still_never_share_a_file(backend, tmp_path):
    # The lock is defeated on purpose (as when it expires under a stalled builder): the conditional
    # moves alone must keep every file in exactly one manifest.
    _, config = _landed(tmp_path, 60, backend[0])
    store = open_state(config.state)
    track(config, store, LocalFileSystem())
    start = threading.Barrier(4)

    def builder(_):
        own = open_state(config.state)
        own.acquire_lock = lambda *args: True
        start.wait()
        return build(config, own, LocalFileSystem(), flush=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(builder, range(4)))
    keys = _manifest_files(store)
    assert len(keys) == len(set(keys)) == 60
    for manifest in store.scan("manifest"):
        assert len(manifest["files"]) <= 7
        assert all(store.get("file", k)["manifest_id"] == manifest["key"] for k in manifest["files"])
    assert store.scan("file", PENDING) == []


def test_two_manifest_processes_at_once(backend, tmp_path):
    config_path, config = _landed(tmp_path, 40, backend[0])
    env = backend[1]
    assert cli_json("ingest", "track", "--config", str(config_path), env=env)[1]["tracked"] == 40
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: cli_json("ingest", "manifest", "--flush", "--config", str(config_path), env=env),
                                range(2)))
    assert [code for code, _ in results] == [0, 0]
    store = open_state(config.state)
    keys = _manifest_files(store)
    assert len(keys) == len(set(keys)) == 40
    made = [m["id"] for _, result in results for m in result["manifests"]]
    assert sorted(made) == sorted(m["key"] for m in store.scan("manifest"))
    for manifest in store.scan("manifest"):
        document = json.loads(open(manifest["manifest_path"]).read())
        assert [f["file"] for f in document["files"]] == manifest["files"]


def test_every_state_operation(backend, tmp_path):
    config_path, config = _landed(tmp_path, 9, backend[0])
    env, cfg = backend[1], ("--config", str(config_path))
    land(tmp_path, "2026-02-01/empty.json", [])
    cli_json("ingest", "track", *cfg, env=env)
    code, built = cli_json("ingest", "manifest", *cfg, env=env)  # 5 + 4 files per date, max 7: both > 50%
    assert code == 0 and sorted(m["files"] for m in built["manifests"]) == [4, 5]
    manifest = built["manifests"][0]["id"]
    store = open_state(config.state)
    member = store.get("manifest", manifest)["files"][0]

    code, got = cli_json("state", "get", member, *cfg, env=env)
    assert code == 0 and got["status"] == MANIFESTED and got["manifest_id"] == manifest and "history" not in got
    code, listed = cli_json("state", "list", "--status", "quarantined", *cfg, env=env)
    assert listed["count"] == 1 and "outside the accepted band" in listed["items"][0]["reason"]
    code, listed = cli_json("state", "list", "--status", "manifested", "--manifests", *cfg, env=env)
    assert listed["count"] == 2

    # Simulate a run that died in processing, then repair it.
    store.move("manifest", manifest, PROCESSING)
    for key in store.get("manifest", manifest)["files"]:
        store.move("file", key, PROCESSING)
    code, stats = cli_json("state", "stats", *cfg, env=env)
    processing = len(store.get("manifest", manifest)["files"])
    assert stats["files"][PROCESSING]["count"] == processing and stats["files"][QUARANTINED]["count"] == 1
    assert stats["files"][MANIFESTED]["count"] == 9 - processing and stats["manifests"][PROCESSING]["count"] == 1
    assert stats["files_total"] == 10 and stats["bytes_total"] == sum(r["size"] for r in store.scan("file"))
    code, orphans = cli_json("state", "orphans", *cfg, env=env)
    assert orphans["stuck"] == [] and orphans["untracked"] == [] and orphans["missing"] == []
    land(tmp_path, "late.json", [{"id": 1}])
    assert cli_json("state", "orphans", *cfg, env=env)[1]["untracked"] == [str(tmp_path / "landing" / "late.json")]
    later = operations.orphans(config, store, LocalFileSystem(), now=time.time() + 2 * 3600)  # past stuck_after (1h)
    assert {r["key"] for r in later["stuck"] if r.get("kind") == "manifest"} == {manifest}
    assert len([r for r in later["stuck"] if r.get("kind") != "manifest"]) == 9  # manifested and processing files
    code, reset = cli_json("state", "reset-stuck", "--older-than", "1h", *cfg, env=env)
    assert reset == {"manifests": [], "files": [], "busy": []}  # nothing that old
    code, reset = cli_json("state", "reset-stuck", "--older-than", "0s", *cfg, env=env)
    assert reset["manifests"] == [manifest] and len(reset["files"]) == processing
    code, timeline = cli_json("state", "timeline", member, *cfg, env=env)
    assert [e["status"] for e in timeline["events"] if e["of"] == "file"] == [PENDING, MANIFESTED, PROCESSING, MANIFESTED]
    assert any(e["of"] == f"manifest {manifest}" for e in timeline["events"])

    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 0 and checked["ok"], checked["problems"]
    (tmp_path / "landing" / member.rsplit("/landing/", 1)[1]).unlink()
    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 1 and any(p["key"] == member and "is missing" in p["problem"] for p in checked["problems"])

    code, refused = cli_json("state", "update", member, "--status", "completed", *cfg, env=env)
    assert code == 1 and f"is in manifest {manifest}" in refused["error"]  # it moves with its manifest
    assert store.get("file", member)["status"] == MANIFESTED
    code, moved = cli_json("state", "update", manifest, "--status", "processing", *cfg, env=env)
    assert code == 0 and moved["kind"] == "manifest" and moved["files_moved"] == processing
    assert store.get("file", member)["status"] == PROCESSING

    code, refused = cli_json("state", "batch-update", "--from", "quarantined", "--to", "completed", *cfg, env=env)
    assert code == 1 and "quarantined -> completed is not allowed" in refused["error"]
    code, batch = cli_json("state", "batch-update", "--from", "processing", "--to", "failed", *cfg, env=env)
    assert batch["moved"] == processing and len(store.scan("file", FAILED)) == processing
    code, batch = cli_json("state", "batch-update", "--from", "failed", "--to", "pending", "--older-than", "1d", *cfg,
                           env=env)
    assert batch["moved"] == 0
    code, missing = cli_json("state", "get", "nope.json", *cfg, env=env)
    assert code == 1 and "neither a tracked file nor a manifest id" in missing["error"]


def test_a_live_claim_is_busy_and_a_dead_one_is_stuck(backend):
    from tegridy_tokens.ingest.claims import claim, claimable_status

    clock = Clock()
    store = open_state(backend[0], clock=clock)
    store.create("file", "x.json", PENDING)
    store.move("file", "x.json", MANIFESTED, manifest_id="m-1")
    store.create("manifest", "m-1", MANIFESTED, files=["x.json"], file_count=1, bytes=1, date="2026-01-01")
    # A runner on another machine claims it: only its lease tells whether it is alive.
    claimed = claim(store, "m-1", MANIFESTED, "elsewhere:1:abcd", lease_s=120)
    assert claimed["attempts"] == 1 and claimed["lease_expires_at"] == clock.now + 120
    with pytest.raises(StateConflict):
        claim(store, "m-1", MANIFESTED, "another:2:ef01", lease_s=120)  # a stale listing loses
    store.move("file", "x.json", PROCESSING)
    clock.now += 60
    assert claimable_status(store.get("manifest", "m-1"), 3, clock.now) is None
    assert operations.reset_stuck(store, 0, now=clock.now) == {"manifests": [], "files": [], "busy": ["m-1"]}
    clock.now += 61  # the lease ran out: the claim is dead
    assert claimable_status(store.get("manifest", "m-1"), 3, clock.now) == PROCESSING
    assert operations.reset_stuck(store, 0, now=clock.now) == {"manifests": ["m-1"], "files": ["x.json"], "busy": []}
    assert store.get("manifest", "m-1")["status"] == MANIFESTED and store.get("file", "x.json")["status"] == MANIFESTED


def test_a_lease_is_renewed_while_held_and_stops_once_lost(backend):
    from tegridy_tokens.ingest.claims import Lease, claim

    store = open_state(backend[0])
    store.create("manifest", "m-2", MANIFESTED, files=[], file_count=0, bytes=0, date="2026-01-01")
    first = claim(store, "m-2", MANIFESTED, "here:1:aaaa", lease_s=4)["lease_expires_at"]
    with Lease(store, "m-2", "here:1:aaaa", lease_s=4) as lease:
        deadline = time.monotonic() + 30
        while store.get("manifest", "m-2")["lease_expires_at"] == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.get("manifest", "m-2")["lease_expires_at"] > first  # renewed (every second here)
        # Someone else takes the manifest (its lease had run out): the renewer gives up, never steals it back.
        store.update_fields("manifest", "m-2", owner="there:2:bbbb")
        lease._thread.join(timeout=30)
        assert not lease._thread.is_alive()
    assert store.get("manifest", "m-2")["owner"] == "there:2:bbbb"
