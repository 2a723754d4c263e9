"""Spark Connect end to end: a real Connect server (its own JVM, started here with the jar, the
extension and the settings, pointed at the real reference service) and a real Connect client in
this process: SQL and Column helpers tokenize, settings set from the client apply, metrics are read
through SQL, and what a client cannot do raises our own error."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from aws_local import stop
from conftest import service_tokens

import tegridy_tokens
from tegridy_tokens.connect import SERVER_CLASS, TegridyConnectError, is_connect
from tegridy_tokens.engine import EXTENSIONS_CLASS

CONTRACT_KEYS = {"rows", "cache_hits", "invocations", "values_sent", "retries", "throttles", "errors",
                 "bytes_sent", "bytes_received", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(service, tmp_path_factory):
    """A Spark Connect server started as users start it (spark-submit of SparkConnectServer),
    stopped at the end of the module."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("connect") / "server.log"
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
        "--class", SERVER_CLASS,
        "--master", "local[2]",
        "--driver-memory", "1g",
        "--jars", tegridy_tokens.jar_path(),
        "--conf", f"spark.sql.extensions={EXTENSIONS_CLASS}",
        "--conf", f"spark.tegridy.lambda.functionName={service.function_name}",
        "--conf", f"spark.tegridy.lambda.detokenizeFunctionName={service.detokenize_function_name}",
        "--conf", f"spark.tegridy.lambda.endpoint={service.endpoint}",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=4",
        "spark-internal",
    ]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)  # spark-submit finds SPARK_HOME with it
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the Connect server exited ({server.returncode}):\n"
                                   + log_path.read_text(errors="replace")[-4000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Connect server did not listen within 240 s:\n"
                                       + log_path.read_text(errors="replace")[-4000:]) from None
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop(server)


@pytest.fixture(scope="module")
def client(connect_url):
    """A Connect client session. Built with the Connect session class's own builder (what
    `pyspark.sql.SparkSession.builder.remote(url)` delegates to), because the classic builder
    refuses a remote session while this test process also holds the classic `spark` fixture.
    The environment flag that routes `pyspark.sql.functions` to Connect is set for this module
    only, so the classic tests after it are untouched."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
        session = ConnectSession.builder.remote(connect_url).getOrCreate()
        try:
            yield session
        finally:
            session.stop()


def _emails(client, prefix: str, rows: int, distinct: int):
    return client.range(0, rows, 1, 2).selectExpr(f"concat('{prefix}', id % {distinct}, '@example.com') AS email")


def _check_tokens(service, emails: list, tokens: list) -> None:
    distinct = sorted(set(emails))
    expected = dict(zip(distinct, service_tokens(service, distinct)))
    assert len(tokens) == len(emails) > 0
    assert all(expected[e] == t for e, t in zip(emails, tokens))


def test_client_is_detected_as_connect(client):
    assert is_connect(client)
    assert type(client).__module__ == "pyspark.sql.connect.session"


def test_sql_function_over_connect(client, service):
    prefix = f"connect-sql-{uuid.uuid4().hex[:8]}-"
    _emails(client, prefix, rows=40, distinct=20).createOrReplaceTempView("connect_emails")
    rows = client.sql("SELECT email, tegridy_tokenize_hp(email) AS token FROM connect_emails").collect()
    _check_tokens(service, [r.email for r in rows], [r.token for r in rows])


def test_column_helpers_over_connect(client, service):
    from tegridy_tokens.functions import detokenize, tokenize

    prefix = f"connect-col-{uuid.uuid4().hex[:8]}-"
    rows = (_emails(client, prefix, rows=30, distinct=15)
            .select("email", tokenize("email").alias("token"))
            .select("email", "token", detokenize("token").alias("back")).collect())
    _check_tokens(service, [r.email for r in rows], [r.token for r in rows])
    assert all(r.back == r.email for r in rows)


def test_settings_set_from_the_client_apply(client, service):
    prefix = f"connect-conf-{uuid.uuid4().hex[:8]}-"
    start = len(service.received)
    client.conf.set("spark.tegridy.batch.maxRows", "7")
    try:
        _emails(client, prefix, rows=30, distinct=30).select(tegridy_tokens.tokenize("email")).collect()
    finally:
        client.conf.unset("spark.tegridy.batch.maxRows")
    events = [e for e in service.received[start:] if e.get("requests")]
    sent = [item["data"] for event in events for item in event["requests"]]
    assert sorted(sent) == sorted(f"{prefix}{i}@example.com" for i in range(30))
    assert len(events) >= 5 and all(len(event["requests"]) <= 7 for event in events)


def test_register_under_connect_says_how_to_start_the_server(client):
    with pytest.raises(TegridyConnectError) as raised:
        tegridy_tokens.register(client, function_name="tegridy-tokens", batch_max_rows=100)
    message = str(raised.value)
    assert "--jars $(tegridy-tokens jar)" in message
    assert f"--conf spark.sql.extensions={EXTENSIONS_CLASS}" in message
    assert "--conf spark.tegridy.lambda.functionName=" in message
    assert "spark.conf.set('spark.tegridy.batch.maxRows'" in message
    assert "JVM_ATTRIBUTE_NOT_SUPPORTED" not in message


def test_metrics_reset_under_connect_is_our_error(client):
    with pytest.raises(TegridyConnectError, match="reset"):
        tegridy_tokens.metrics(client, reset=True)


def test_metrics_and_measure_through_sql(client, service):
    """Reads the server's `tegridy_metrics()` table function: this fails, with our
    TegridyConnectError, for as long as the jar has no such function."""
    prefix = f"connect-metrics-{uuid.uuid4().hex[:8]}-"
    before = tegridy_tokens.metrics(client)
    assert CONTRACT_KEYS <= set(before)
    assert all(isinstance(before[k], int) for k in CONTRACT_KEYS if not k.startswith("latency_ms_"))
    assert all(isinstance(before[k], float) for k in CONTRACT_KEYS if k.startswith("latency_ms_"))

    start = len(service.received)
    with tegridy_tokens.measure(client) as measured:
        _emails(client, prefix, rows=60, distinct=30).select(tegridy_tokens.tokenize("email")).collect()
    events = [e for e in service.received[start:] if e.get("requests")]
    assert measured.metrics["rows"] == 60
    assert measured.metrics["values_sent"] == sum(len(e["requests"]) for e in events) == 30
    assert measured.metrics["invocations"] == len(events)
    assert all(math.isnan(measured.metrics[k]) for k in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99"))
    assert tegridy_tokens.metrics(client)["rows"] >= before["rows"] + 60


def test_limit_over_connect_sends_the_rows_shown(client, service):
    prefix = f"connect-limit-{uuid.uuid4().hex[:8]}-"
    _emails(client, prefix, rows=2000, distinct=2000).createOrReplaceTempView("connect_limit")
    client.conf.set("spark.tegridy.cache.maxEntries", "0")
    try:
        start = len(service.received)
        rows = client.sql("SELECT email, tegridy_tokenize_hp(email) AS token FROM connect_limit LIMIT 10").collect()
        events = [e for e in service.received[start:] if e.get("requests")]
    finally:
        client.conf.unset("spark.tegridy.cache.maxEntries")
    _check_tokens(service, [r.email for r in rows], [r.token for r in rows])
    sent = sum(len(e["requests"]) for e in events)
    assert len(rows) == 10 and sent == 10, f"{sent} values in {len(events)} invocations"
