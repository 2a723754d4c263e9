"""No value in any log: canary values through a real job on two executor JVMs, the real jar and
the real reference service (throttling at 2 concurrent calls), with our code and the AWS SDK
logging at DEBUG; then every line the driver, the executors and the service wrote is searched."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import tegridy_tokens
from conftest import REPO
from tegridy_tokens.service import local_service

LOG4J = """
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d %p %c: %m%n%ex
logger.tegridy.name = com.tegridy
logger.tegridy.level = trace
# The bundled AWS SDK logs under its relocated package (docs/build.md).
logger.sdk.name = com.tegridy.shaded.awssdk
logger.sdk.level = debug
"""


def test_no_canary_in_driver_executor_or_service_logs(tmp_path, caplog):
    canary = "CANARYq7"
    pattern = re.compile(canary + r"-\d+-x")
    log4j = tmp_path / "log4j2.properties"
    log4j.write_text(LOG4J)
    import time

    import pyspark

    # local-cluster's workers write executor logs under $SPARK_HOME/work/<app>/<executor>/.
    work = Path(pyspark.__file__).parent / "work"
    started = time.time()
    java_options = f"-Dlog4j2.configurationFile=file:{log4j}"
    caplog.set_level(logging.DEBUG)
    with local_service(vault=tmp_path / "vault.db", max_concurrency=2, latency_ms=5) as service:
        command = [
            str(Path(sys.executable).with_name("spark-submit")),
            "--master", "local-cluster[2,1,1024]",
            "--jars", tegridy_tokens.jar_path(),
            "--driver-java-options", java_options,
            "--conf", f"spark.executor.extraJavaOptions={java_options}",
            "--conf", "spark.sql.extensions=com.tegridy.spark.TegridyExtensions",
            "--conf", f"spark.tegridy.lambda.functionName={service.function_name}",
            "--conf", f"spark.tegridy.lambda.detokenizeFunctionName={service.detokenize_function_name}",
            "--conf", f"spark.tegridy.lambda.endpoint={service.endpoint}",
            "--conf", "spark.tegridy.retry.maxAttempts=30",
            "--conf", "spark.task.maxFailures=1",
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.executor.memory=768m",
            "--conf", f"spark.pyspark.python={sys.executable}",
            str(REPO / "tests" / "canary_job.py"), canary,
        ]
        env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        stats = service.stats()
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["tokenized"] == 3000 and results["round_trip"] == 3000
    assert results["unknown_tokens"] == "failed: not found"
    assert results["error_names_function"] is True and results["error_holds_a_value"] is False
    assert results["invalid_utf8_is_null"] is True
    assert stats["throttled"] > 0  # the retry path really ran, and logged

    apps = [app for app in work.glob("app-*") if app.stat().st_mtime >= started - 1]
    executor_logs = [p.read_text(errors="replace") for app in apps for p in app.rglob("*")
                     if p.is_file() and p.name in ("stderr", "stdout")]
    for app in apps:
        shutil.rmtree(app, ignore_errors=True)  # they live inside the installed pyspark
    assert len(executor_logs) >= 2, "executor logs not found"
    outputs = {"driver stdout": done.stdout, "driver stderr": done.stderr, "service": caplog.text}
    outputs.update({f"executor log {i}": text for i, text in enumerate(executor_logs)})
    assert "com.tegridy" in "".join(executor_logs) + done.stderr  # our loggers did write
    for name, text in outputs.items():
        found = pattern.search(text)
        assert found is None, f"{name} holds a value: ...{text[max(0, found.start() - 200):found.end() + 50]}"
