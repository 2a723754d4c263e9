"""The service killed and restarted mid-job, and a job cancelled mid-flight: a real local[2] Spark
(no task retry, so the client alone must ride the restart out) with the real jar, and the real
reference service as its own process (`tegridy-tokens serve`), killed with SIGKILL and started
again on the same port and vault. The output is exact, and the engine's figures are compared with
the service's own counters (GET /_tegridy/stats)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from conftest import lambda_client

import tegridy_tokens
from tegridy_tokens.service.local import serve_in_subprocess

ROWS = 6000
OUTAGE_S = 10.0


def stats(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + "/_tegridy/stats", timeout=10) as response:
        return json.load(response)


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_10s_restart_mid_job_leaves_local2_output_exact(spark, session_settings, tmp_path):
    assert spark.sparkContext.master == "local[2]"  # no task retry: only the client can ride it out
    vault = str(tmp_path / "vault.db")
    # --latency-ms keeps the job running long enough to be cut in the middle.
    process, endpoint = serve_in_subprocess("--vault", vault, "--latency-ms", "40")
    port = int(endpoint.rsplit(":", 1)[1])
    session_settings({"spark.tegridy.lambda.endpoint": endpoint, "spark.tegridy.batch.maxRows": "20",
              "spark.tegridy.maxInFlight": "4", "spark.tegridy.cache.maxEntries": "0"})
    values = [f"restart-{i}" for i in range(ROWS)]
    outcome: dict = {}

    def job() -> None:
        try:
            with tegridy_tokens.measure(spark) as measured:
                outcome["rows"] = (spark.createDataFrame(list(enumerate(values)), "id long, v string").repartition(2)
                                   .selectExpr("id", "tegridy_tokenize_hp(v) AS t").collect())
            outcome["metrics"] = measured.metrics
        except Exception as error:  # reported below
            outcome["error"] = error

    runner = threading.Thread(target=job)
    runner.start()
    restarted = None
    try:
        wait_for(lambda: stats(endpoint)["invocations"] >= 30)
        seen_before_kill = stats(endpoint)["invocations"]
        process.kill()
        process.wait()
        time.sleep(OUTAGE_S)
        restarted, _ = serve_in_subprocess("--vault", vault, port=port)
        runner.join(600)
        seen_after_restart = stats(endpoint)["invocations"]
        assert "error" not in outcome, outcome.get("error")
        tokens = [None] * ROWS
        for row in outcome["rows"]:
            tokens[row.id] = row.t
        assert all(t is not None for t in tokens)
        # Every token detokenizes, asked of the service itself, to its own value.
        client = lambda_client(endpoint)
        found: dict[str, str] = {}
        for start in range(0, ROWS, 500):
            response = client.invoke(FunctionName="tegridy-tokens-detokenize",
                                     Payload=json.dumps({"tokens": tokens[start:start + 500]}))
            found.update(json.loads(response["Payload"].read())["tokens"])
        assert all(found.get(tokens[i]) == values[i] for i in range(ROWS))
    finally:
        runner.join(600)
        for p in (process, restarted):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    metrics = outcome["metrics"]
    received = seen_before_kill + seen_after_restart
    print(f"\nrestart: engine invocations {metrics['invocations']:.0f}, attempts_unsent {metrics['attempts_unsent']:.0f}, "
          f"retries_connection {metrics['retries_connection']:.0f}; service invocations seen {received} "
          f"({seen_before_kill} read just before the kill + {seen_after_restart} after the restart)")
    assert metrics["attempts_unsent"] > 0 and metrics["errors"] == 0
    # Calls the killed service took between the last reading and the kill are lost from its counters.
    assert received <= metrics["invocations"] <= received + 4 * 2


def test_a_cancelled_jobs_calls_are_counted(spark, service, session_settings):
    session_settings({"spark.tegridy.batch.maxRows": "10", "spark.tegridy.cache.maxEntries": "0"})
    before, engine_before = service.stats(), tegridy_tokens.metrics(spark)
    service.app.settings.latency_ms = 2000.0  # slow calls: no task can end on its own while the job is cancelled
    outcome: dict = {}

    def job() -> None:
        spark.sparkContext.setJobGroup("cancel-me", "cancelled on purpose", interruptOnCancel=True)
        try:
            spark.range(0, 4000, 1, 2).selectExpr("tegridy_tokenize_hp(concat('cancel-', id))").collect()
        except Exception as error:
            outcome["error"] = error

    runner = threading.Thread(target=job)
    try:
        runner.start()
        wait_for(lambda: service.stats()["invocations"] - before["invocations"] >= 8)
        spark.sparkContext.cancelJobGroup("cancel-me")
        runner.join(120)
    finally:
        service.app.settings.latency_ms = 0.0
    assert "error" in outcome  # cancelled

    def figures() -> tuple[float, int]:
        engine = tegridy_tokens.metrics(spark)["invocations"] - engine_before["invocations"]
        return engine, service.stats()["invocations"] - before["invocations"]

    deadline = time.monotonic() + 30
    while figures()[0] < figures()[1] and time.monotonic() < deadline:
        time.sleep(0.1)  # the killed tasks' figures reach the driver a moment after the job ends
    time.sleep(1)
    engine, received = figures()
    print(f"\ncancelled job: engine invocations {engine:.0f}, service invocations {received}")
    # Every call the service took is counted; a call aborted as its bytes left may not have been
    # read by the service (at most one per invocation thread: maxInFlight, 16).
    assert received <= engine <= received + 16
