"""Who may detokenize, proven in Spark: the real jar in a real local Spark against the reference
service with SigV4 principals. A tokenize-only principal gets '[REDACTED]' from safe_detokenize
and a clear, value-free failure from tegridy_detokenize_hp; a principal with detokenize rights
gets exact values; a job under the server's rate limit meets 429s and still finishes exactly.

The executors sign with the AWS SDK's default chain: here the JVM's aws.accessKeyId /
aws.secretAccessKey system properties (local mode: driver and executor are one JVM). Each
principal's queries use a distinct timeoutMs, so each gets its own runtime and Lambda client."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from test_authority_service import ANALYST, ETL, client_for, principals_file
from tegridy_tokens.functions import safe_detokenize
from tegridy_tokens.service import local_service
from tegridy_tokens.service.audit import AuditLog, token_hmac
from tegridy_tokens.service.auth import Principals

CANARY = "canary-authz-spark-4d2a@example.com"
VALUES = [f"{CANARY}-{i}" for i in range(40)]


@contextmanager
def acting_as(spark, service, who: dict | None, timeout_ms: int, **extra: str):
    """Session settings pointing at `service` and the JVM's credentials set to `who`, then restored."""
    system = spark.sparkContext._jvm.java.lang.System
    pairs = {"spark.tegridy.lambda.endpoint": service.endpoint, "spark.tegridy.timeoutMs": str(timeout_ms), **extra}
    previous = {key: spark.conf.get(key, None) for key in pairs}
    for key, value in pairs.items():
        spark.conf.set(key, value)
    if who is not None:
        system.setProperty("aws.accessKeyId", who["access_key_id"])
        system.setProperty("aws.secretAccessKey", who["secret_access_key"])
    try:
        yield
    finally:
        system.clearProperty("aws.accessKeyId")
        system.clearProperty("aws.secretAccessKey")
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    home = tmp_path_factory.mktemp("authz-spark")
    audit = AuditLog(home / "audit.jsonl", b"a" * 32)
    with local_service(vault=home / "vault.db", principals=Principals.load(principals_file(home)), audit=audit) as service:
        service.audit = audit
        yield service


@pytest.fixture(scope="module")
def tokens(secured):
    answer = client_for(secured.endpoint, ETL).invoke(
        FunctionName=secured.function_name, Payload=json.dumps({"requests": [{"data": v} for v in VALUES]}))
    return [r["token"] for r in json.loads(answer["Payload"].read())["responses"]]


def test_tokenize_only_principal_gets_redacted_and_a_clear_failure(spark, secured, tokens):
    frame = spark.createDataFrame([(v,) for v in VALUES], "email STRING")
    with acting_as(spark, secured, ETL, timeout_ms=30001):
        tokenized = frame.select("email", spark_expr("tegridy_tokenize_hp(email)").alias("t")).collect()
        assert [r.t for r in tokenized] == tokens  # etl may tokenize: the service's own tokens

        token_frame = spark.createDataFrame([(t,) for t in tokens], "t STRING")
        redacted = token_frame.select(spark_expr("safe_detokenize(t, 'support')").alias("v"),
                                      safe_detokenize("t").alias("w")).collect()
        assert [(r.v, r.w) for r in redacted] == [("[REDACTED]", "[REDACTED]")] * len(tokens)

        with pytest.raises(Exception) as failure:
            token_frame.select(spark_expr("tegridy_detokenize_hp(t)")).collect()
    text = str(failure.value)
    assert "not authorized to invoke tegridy-tokens-detokenize" in text
    assert CANARY not in text and not any(t in text for t in tokens)


def test_principal_with_detokenize_rights_gets_exact_values(spark, secured, tokens):
    token_frame = spark.createDataFrame([(t,) for t in tokens], "t STRING")
    with acting_as(spark, secured, ANALYST, timeout_ms=30002):
        rows = token_frame.select(spark_expr("tegridy_detokenize_hp(t)").alias("a"),
                                  spark_expr("safe_detokenize(t)").alias("b"),
                                  safe_detokenize("t", role="support").alias("c")).collect()
    assert [r.a for r in rows] == VALUES and [r.b for r in rows] == VALUES and [r.c for r in rows] == VALUES
    # The audit: the analyst's detokenize requests, the claimed role of safe_detokenize's own
    # requests, an HMAC for every token, and no value or token in the file.
    text = secured.audit.path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [l for l in lines if l["principal"]["name"] == "analyst" and l["operation"] == "detokenize"]
    assert {json.dumps(l.get("role")) for l in mine} == {"null", '{"claimed": "support"}'}
    claimed = [l for l in mine if l.get("role")]
    assert sorted(h for l in claimed for h in l["token_hmacs"]) == sorted(token_hmac(b"a" * 32, t) for t in tokens)
    assert sum(l["answered"] for l in claimed) == len(tokens)
    assert CANARY not in text and not any(t in text for t in tokens)


def test_a_job_under_the_rate_limit_meets_429s_and_finishes_exactly(spark, service, tmp_path):
    import tegridy_tokens
    from conftest import lambda_client

    values = [f"rate-{i:05d}@example.com" for i in range(2000)]
    with local_service(vault=tmp_path / "vault.db", max_values_per_second=1000) as limited:
        before = tegridy_tokens.metrics(spark)
        frame = spark.createDataFrame([(v,) for v in values], "email STRING").repartition(2)
        with acting_as(spark, limited, None, timeout_ms=30003, **{
                "spark.tegridy.batch.maxRows": "100", "spark.tegridy.retry.maxAttempts": "40",
                "spark.tegridy.maxInFlight": "2"}):
            rows = frame.select("email", spark_expr("tegridy_tokenize_hp(email)").alias("t")).collect()
        after = tegridy_tokens.metrics(spark)
        assert limited.stats()["throttled"] > 0, "the limit was met"
        assert after["throttles"] > before["throttles"]
        expected = {}
        client = lambda_client(limited.endpoint)
        for start in range(0, len(values), 500):  # the service's own tokens, asked once the job is done
            chunk = values[start:start + 500]
            import time
            while True:
                try:
                    answer = client.invoke(FunctionName=limited.function_name,
                                           Payload=json.dumps({"requests": [{"data": v} for v in chunk]}))
                    break
                except client.exceptions.TooManyRequestsException:
                    time.sleep(1)
            expected.update(zip(chunk, [r["token"] for r in json.loads(answer["Payload"].read())["responses"]]))
        assert len(rows) == len(values) and all(r.t == expected[r.email] for r in rows)


def spark_expr(text: str):
    from pyspark.sql import functions as F

    return F.expr(text)
