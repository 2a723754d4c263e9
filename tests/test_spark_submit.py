"""The example job through `spark-submit --jars $(tegridy-tokens jar)` on a local cluster:
two executor JVMs, the real jar shipped to them, the real reference service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from conftest import REPO, service_tokens

import tegridy_tokens


def test_example_job_on_two_executors(tmp_path, service):
    output = tmp_path / "customers_tok"
    spark_submit = Path(sys.executable).with_name("spark-submit")
    before = service.stats()
    command = [
        str(spark_submit),
        "--master", "local-cluster[2,1,1024]",
        "--jars", tegridy_tokens.jar_path(),
        "--conf", "spark.sql.extensions=com.tegridy.spark.TegridyExtensions",
        "--conf", f"spark.tegridy.lambda.functionName={service.function_name}",
        "--conf", f"spark.tegridy.lambda.endpoint={service.endpoint}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.executor.memory=768m",
        "--conf", f"spark.pyspark.python={sys.executable}",
        str(REPO / "examples" / "tokenize_customers.py"),
        "--rows", "20000", "--distinct", "2000", "--prefix", "cluster", "--output", str(output),
    ]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    after = service.stats()

    assert summary["executors"] == 2
    metrics = summary["metrics"]
    assert metrics["rows"] == 20000
    assert metrics["invocations"] == after["tokenize_invocations"] - before["tokenize_invocations"]
    assert metrics["values_sent"] == after["values_received"] - before["values_received"]
    assert metrics["values_sent"] <= 2 * 2000  # at most once per executor

    table = pq.read_table(output).to_pydict()
    assert len(table["email"]) == 20000
    distinct = sorted(set(table["email"]))
    expected = dict(zip(distinct, service_tokens(service, distinct)))
    assert all(expected[e] == t for e, t in zip(table["email"], table["email_token"]))
