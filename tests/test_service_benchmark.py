"""The service benchmark in its smallest run, so it never rots; and the DynamoDB calls per batch,
counted (not timed): reads by chunks of 100, one conditional write per new entry."""

from __future__ import annotations

import importlib.util

from conftest import REPO


def test_service_benchmark_counts_db_operations(dynamodb_local, aws_env):
    spec = importlib.util.spec_from_file_location("service_benchmark", REPO / "benchmarks" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.run(dynamodb_local, reps=1)
    operations = {name: r["db_operations"] for name, r in results["scenarios"].items()}
    # One BatchGetItem per 100 values, and one conditional PutItem per new value (the tokenize role may
    # add entries, never replace or delete one: no BatchWriteItem). Values already vaulted cost reads only.
    assert operations == {"10 new": 11, "100 new": 101, "500 new": 505, "500 vaulted": 5, "detokenize 500": 5}
    assert all(r["peak_heap_mb"] > 0 and r["median_ms"] > 0 for r in results["scenarios"].values())
    assert "| 500 new |" in module.table(results)
