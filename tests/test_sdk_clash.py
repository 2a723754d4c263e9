"""The classpath clash EMR and Glue users meet: the cluster's own, older AWS SDK v2 on the driver's
system classpath (`spark.driver.extraClassPath`), so it is found before anything in our jar. With
the SDK relocated (build.sbt, docs/build.md) the core round trip still gives the reference
service's exact tokens and values back; with an unrelocated jar it fails in the SDK's internals.
Real spark-submit, real jar, real reference service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aws_local import fetch_older_aws_sdk
from conftest import REPO, service_tokens

import tegridy_tokens

OLDER_SDK_VERSION = "2.20.162"  # tests/older_aws_sdk/pom.xml
# What the X-Ray SDK ships: a global interceptor for every unrelocated SDK client in the JVM. The
# class is absent here, so an unrelocated client would fail to build; ours must not look it up.
GLOBAL_INTERCEPTORS = "software/amazon/awssdk/global/handlers/execution.interceptors"


def test_round_trip_with_an_older_sdk_first_on_the_classpath(tmp_path, service):
    older_sdk = fetch_older_aws_sdk()
    assert any(jar.name == f"sdk-core-{OLDER_SDK_VERSION}.jar" for jar in older_sdk), older_sdk
    cluster_resources = tmp_path / "cluster-resources"
    (cluster_resources / GLOBAL_INTERCEPTORS).parent.mkdir(parents=True)
    (cluster_resources / GLOBAL_INTERCEPTORS).write_text("com.example.cluster.TracingInterceptor\n")
    cluster_classpath = os.pathsep.join([str(cluster_resources), *map(str, older_sdk)])

    rows, distinct = 3000, 400
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
        "--master", "local[2]",
        "--jars", tegridy_tokens.jar_path(),
        "--conf", f"spark.driver.extraClassPath={cluster_classpath}",
        "--conf", f"spark.executor.extraClassPath={cluster_classpath}",
        "--conf", "spark.sql.extensions=com.tegridy.spark.TegridyExtensions",
        "--conf", f"spark.tegridy.lambda.functionName={service.function_name}",
        "--conf", f"spark.tegridy.lambda.detokenizeFunctionName={service.detokenize_function_name}",
        "--conf", f"spark.tegridy.lambda.endpoint={service.endpoint}",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.pyspark.python={sys.executable}",
        str(REPO / "tests" / "sdk_clash_job.py"), str(rows), str(distinct),
    ]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])

    # The clash is real: the SDK's own names resolve to the cluster's older jars.
    assert results["cluster_sdk"]["version"] == OLDER_SDK_VERSION
    assert Path(results["cluster_sdk"]["jar"]).name == f"sdk-core-{OLDER_SDK_VERSION}.jar"

    assert results["error"] is None, results["error"]
    assert results["rows"] == rows and results["round_trip"] == rows
    values = sorted(results["tokens"])
    assert len(values) == distinct
    assert [results["tokens"][v] for v in values] == service_tokens(service, values)

    # Ours ran from our jar, under its relocated names.
    assert Path(results["our_sdk"].get("jar", "")).name == Path(tegridy_tokens.jar_path()).name, results["our_sdk"]
    assert results["our_sdk"]["version"] != OLDER_SDK_VERSION
