"""Several `ingest run` processes at once, on SQLite and on DynamoDB Local: every manifest is
claimed by one runner only (its timeline has exactly one processing -> completed), nobody
touches a manifest another runner claimed or completed, and the rows equal the valid lines.
Each runner is a real CLI process with its own Spark (local[1]) against the shared reference
service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from ingest_helpers import cli_json, count_rows, land, write_config
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.state import COMPLETED, MANIFESTED, PROCESSING, open_state

MANIFESTS = 8
LINES = 20


def runner_settings(service) -> dict:
    return {"spark.tegridy.lambda.functionName": service.function_name,
            "spark.tegridy.lambda.endpoint": service.endpoint, "spark.master": "local[1]",
            "spark.ui.enabled": False, "spark.driver.memory": "512m"}


@pytest.mark.parametrize("backend, runners", [("sqlite", 2), ("sqlite", 4), ("dynamodb", 2), ("dynamodb", 4)])
def test_concurrent_runners_process_each_manifest_once(backend, runners, service, tmp_path, request):
    env: dict = {}
    state = f"sqlite://{tmp_path / 'state.db'}"
    if backend == "dynamodb":
        env = request.getfixturevalue("aws_env")
        state = f"dynamodb://ingest-runners-{uuid.uuid4().hex[:12]}"
    # One file per manifest, so there are as many manifests as files.
    config_path = write_config(tmp_path, state=state, expected_file_size_mb=0.01, size_tolerance_percent=99,
                               max_files_per_manifest=1, pii_columns={"email": "default"},
                               spark=runner_settings(service))
    for m in range(MANIFESTS):
        land(tmp_path, f"2026-06-{1 + m:02d}/f.ndjson",
             [{"id": m * LINES + i, "email": f"runner{m}.{i}@example.com"} for i in range(LINES)])
    cfg = ("--config", str(config_path))
    assert cli_json("ingest", "track", *cfg, env=env)[1]["tracked"] == MANIFESTS
    assert len(cli_json("ingest", "manifest", "--flush", *cfg, env=env)[1]["manifests"]) == MANIFESTS

    command = [sys.executable, "-m", "tegridy_tokens.cli", "ingest", "run", *cfg, "--json"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, **env)) for _ in range(runners)]
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    # Each manifest completed by exactly one runner; the others skipped it or never saw it.
    done = [r["manifest"] for result in results for r in result["manifests"] if r["status"] == COMPLETED]
    assert sorted(done) == sorted(set(done)) and len(done) == MANIFESTS

    store = open_state(load_config(config_path).state)
    for manifest in store.scan("manifest"):
        assert [e["status"] for e in manifest["history"]] == [MANIFESTED, PROCESSING, COMPLETED], manifest["key"]
        for key in manifest["files"]:
            assert [e["status"] for e in store.get("file", key)["history"]][-3:] == [MANIFESTED, PROCESSING, COMPLETED]
    assert count_rows(tmp_path / "out") == MANIFESTS * LINES
