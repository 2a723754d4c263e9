"""The state's consistency under the operator's commands and the pipeline's guards, without Spark,
on SQLite and on DynamoDB Local: `batch-update` and `update` move a manifest and its files
together or refuse, so `validate` stays clean; bad configuration is refused naming the closest
known name; a file whose content was already tracked is recorded `duplicate` of the first and
never batched; leftover `_staging/<id>/` folders are reported by `orphans` and removed by
`clean-staging`."""

from __future__ import annotations

import uuid

import pytest

from ingest_helpers import cli_json, land, write_config
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.state import FAILED, MANIFESTED, PENDING, open_state


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}", {}
    return f"dynamodb://ingest-{uuid.uuid4().hex[:12]}", request.getfixturevalue("aws_env")


def _failed_manifests(tmp_path, backend, count: int = 3):
    """`count` manifests of one file each (and one of two files), tracked, batched and moved to
    failed, as an outage leaves them; (cli args, env, store)."""
    config_path = write_config(tmp_path, state=backend[0], expected_file_size_mb=0.001, size_tolerance_percent=99,
                               max_files_per_manifest=2)
    for i in range(count + 1):
        land(tmp_path, f"2026-02-{1 + min(i, count - 1):02d}/f{i}.ndjson", [{"id": i}])
    cfg, env = ("--config", str(config_path)), backend[1]
    cli_json("ingest", "track", *cfg, env=env)
    cli_json("ingest", "manifest", "--flush", *cfg, env=env)
    store = open_state(load_config(config_path).state)
    for manifest in store.scan("manifest"):
        for status in ("processing", FAILED):
            store.move("manifest", manifest["key"], status)
            for key in manifest["files"]:
                store.move("file", key, status)
    return cfg, env, store


def test_batch_update_moves_manifests_with_their_files(backend, tmp_path):
    cfg, env, store = _failed_manifests(tmp_path, backend)
    code, moved = cli_json("state", "batch-update", "--from", "failed", "--to", "manifested", *cfg, env=env)
    assert code == 0 and moved["moved"] == 4 and len(moved["manifests"]) == 3
    assert {m["status"] for m in store.scan("manifest")} == {MANIFESTED}
    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 0 and checked["ok"], checked["problems"]
    # Back to pending: the files are batched again and their manifests are dropped.
    code, moved = cli_json("state", "batch-update", "--from", "manifested", "--to", "pending", *cfg, env=env)
    assert code == 0 and moved["moved"] == 4
    assert {m["status"] for m in store.scan("manifest")} == {"dropped"}
    assert all(f["manifest_id"] is None for f in store.scan("file", PENDING))
    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 0 and checked["ok"], checked["problems"]
    code, built = cli_json("ingest", "manifest", "--flush", *cfg, env=env)
    assert sum(m["files"] for m in built["manifests"]) == 4


def test_a_file_of_a_manifest_moves_only_with_it(backend, tmp_path):
    cfg, env, store = _failed_manifests(tmp_path, backend)
    pair = next(m for m in store.scan("manifest") if len(m["files"]) == 2)
    code, refused = cli_json("state", "update", pair["files"][0], "--status", "manifested", *cfg, env=env)
    assert code == 1 and pair["key"] in refused["error"] and "state update " + pair["key"] in refused["error"]
    # A batch holding only some of a manifest's files is refused before anything changes.
    store.move("file", pair["files"][1], "processing")
    code, refused = cli_json("state", "batch-update", "--from", "failed", "--to", "manifested", *cfg, env=env)
    assert code == 1 and pair["key"] in refused["error"]
    assert {m["status"] for m in store.scan("manifest")} == {FAILED}
    store.move("file", pair["files"][1], FAILED)
    code, moved = cli_json("state", "update", pair["key"], "--status", "pending", *cfg, env=env)
    assert code == 0 and moved["status"] == "dropped" and moved["files_moved"] == 2
    assert {store.get("file", key)["status"] for key in pair["files"]} == {PENDING}
    assert cli_json("state", "validate", *cfg, env=env)[1]["ok"]


def test_config_errors_name_the_closest_known_name(tmp_path):
    path = tmp_path / "ingest.toml"
    (tmp_path / "landing").mkdir()
    base = f'[ingest]\nlanding = "{tmp_path / "landing"}"\noutput = "{tmp_path / "out"}"\n'
    path.write_text(base + '[sprak]\n"spark.master" = "local[1]"\n')
    code, error = cli_json("state", "stats", "--config", str(path))
    assert code == 2 and "[sprak]" in error["error"] and "[spark]" in error["error"]
    path.write_text(base + "max_file_per_manifest = 3\n")
    code, error = cli_json("state", "stats", "--config", str(path))
    assert code == 2 and "max_file_per_manifest" in error["error"] and "did you mean max_files_per_manifest" in error["error"]
    path.write_text(base + '[spark]\nmaster = "local[1]"\n')
    code, error = cli_json("state", "stats", "--config", str(path))
    assert code == 2 and "spark.master" in error["error"]


def test_a_landing_that_does_not_exist_is_refused(tmp_path):
    config = write_config(tmp_path)  # landing = <tmp>/landing, never created
    for command in (("ingest", "track"), ("ingest", "all"), ("state", "orphans")):
        code, error = cli_json(*command, "--config", str(config))
        assert code == 2 and str(tmp_path / "landing") in error["error"] and "does not exist" in error["error"]


def test_the_same_content_twice_is_a_duplicate(backend, tmp_path):
    config_path = write_config(tmp_path, state=backend[0], expected_file_size_mb=0.001, size_tolerance_percent=99)
    rows = [{"id": i, "email": f"dup{i}@example.com"} for i in range(10)]
    first = land(tmp_path, "2026-03-01/a.ndjson", rows)
    cfg, env = ("--config", str(config_path)), backend[1]
    assert cli_json("ingest", "track", *cfg, env=env)[1]["tracked"] == 1
    copy = land(tmp_path, "2026-03-02/copy-of-a.ndjson", rows)  # a later delivery of the same bytes
    other = land(tmp_path, "2026-03-02/b.ndjson", rows[:5])
    code, tracked = cli_json("ingest", "track", *cfg, env=env)
    assert code == 0 and tracked["tracked"] == 1
    assert tracked["duplicates"] == [{"file": str(copy), "duplicate_of": str(first)}]
    store = open_state(load_config(config_path).state)
    assert store.get("file", str(copy))["status"] == "duplicate"
    assert store.get("file", str(copy))["duplicate_of"] == str(first)
    code, built = cli_json("ingest", "manifest", "--flush", *cfg, env=env)
    assert sorted(f for m in store.scan("manifest") for f in m["files"]) == sorted([str(first), str(other)])
    code, stats = cli_json("state", "stats", *cfg, env=env)
    assert stats["files"]["duplicate"] == {"count": 1, "bytes": copy.stat().st_size}
    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 0 and checked["ok"], checked["problems"]


def test_leftover_staging_is_reported_and_removable(backend, tmp_path):
    cfg, env, store = _failed_manifests(tmp_path, backend)
    failed = store.scan("manifest", FAILED)[0]["key"]
    leftover = tmp_path / "out" / "_staging" / failed / "data"
    leftover.mkdir(parents=True)
    (leftover / "part-0.parquet").write_bytes(b"PAR1")
    stray = tmp_path / "out" / "_staging" / "m-unknown"
    stray.mkdir()
    code, orphans = cli_json("state", "orphans", *cfg, env=env)
    assert sorted(s["manifest"] for s in orphans["staging"]) == sorted([failed, "m-unknown"])
    code, checked = cli_json("state", "validate", *cfg, env=env)
    assert code == 1 and any("_staging" in p["problem"] for p in checked["problems"])
    code, cleaned = cli_json("state", "clean-staging", *cfg, env=env)
    assert code == 0 and sorted(cleaned["removed"]) == sorted([failed, "m-unknown"])
    assert not leftover.exists() and not stray.exists()
    assert cli_json("state", "orphans", *cfg, env=env)[1]["staging"] == []
