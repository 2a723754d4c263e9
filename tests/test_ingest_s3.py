"""`ingest all` on S3, end to end: landing, output and quarantine are `s3a://` paths on moto's
server (a real S3 API), reached through hadoop-aws at the Hadoop version of this Spark line
(fetched from Maven Central by the test), the state in DynamoDB Local, the real jar and service.
The same checks as the local run: rows equal valid lines, no plaintext PII in any object, a rerun
adds nothing, and a run killed (kill -9) after its write is taken back by the next run, to
exact rows."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from ingest_helpers import cli, cli_json, fetch_hadoop_aws, hadoop_version, write_config

PII = {"email": "default", "ssn": "default"}
BROKEN = '{"email": "canary.s3broken.q7@example.com", "ssn": "999-00-4321", "note": '


@pytest.fixture(scope="module")
def s3_local(tmp_path_factory):
    """moto's server, here for S3; its endpoint."""
    from aws_local import start_moto, stop

    process, endpoint = start_moto(tmp_path_factory.mktemp("moto-s3"))
    yield endpoint
    stop(process)


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="tegridylocal",
                        aws_secret_access_key="tegridylocal")


def s3a_settings(endpoint: str) -> dict:
    """The s3a settings this test runs with (docs/ingestion.md shows the same)."""
    return {"spark.jars": ",".join(str(p) for p in fetch_hadoop_aws(hadoop_version())),
            "spark.hadoop.fs.s3a.endpoint": endpoint, "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.path.style.access": True, "spark.hadoop.fs.s3a.connection.ssl.enabled": False,
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "spark.hadoop.fs.s3a.access.key": "tegridylocal", "spark.hadoop.fs.s3a.secret.key": "tegridylocal"}


def records(first: int, count: int) -> list[dict]:
    return [{"id": i, "email": f"canary.s3.{i}.q7@example.com", "ssn": f"9{i % 100:02d}-44-{i:04d}",
             "address": {"city": "Lyon", "zip": i}} for i in range(first, first + count)]


def put_lines(s3, bucket: str, key: str, lines: list) -> None:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())


def objects(s3, bucket: str, prefix: str = "") -> dict[str, bytes]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def pq_rows(data: bytes) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def output_rows(s3, bucket: str) -> list[dict]:
    return [row for key, data in objects(s3, bucket, "out/_ingest_date=").items() if key.endswith(".parquet")
            for row in pq_rows(data)]


@pytest.mark.parametrize("crash", [None, "after-write"])
def test_ingest_all_on_s3(crash, s3_local, aws_env, service, tmp_path):
    s3 = s3_client(s3_local)
    raw, lake = f"raw-{uuid.uuid4().hex[:8]}", f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=raw)
    s3.create_bucket(Bucket=lake)
    valid = records(0, 60) + records(60, 40)
    put_lines(s3, raw, "landing/2026-12-01/a.ndjson", valid[:30] + [BROKEN] + valid[30:60])
    put_lines(s3, raw, "landing/2026-12-02/b.ndjson", valid[60:])
    s3.put_object(Bucket=raw, Key="landing/2026-12-02/empty.ndjson", Body=b"")
    spark = {"spark.tegridy.lambda.functionName": service.function_name,
             "spark.tegridy.lambda.endpoint": service.endpoint, "spark.master": "local[1]",
             "spark.ui.enabled": False, **s3a_settings(s3_local)}
    config = write_config(tmp_path, state=f"dynamodb://ingest-s3-{uuid.uuid4().hex[:12]}",
                          expected_file_size_mb=0.01, size_tolerance_percent=99, pii_columns=PII, spark=spark)
    text = config.read_text().replace(f'"{tmp_path / "landing"}"', f'"s3a://{raw}/landing"') \
        .replace(f'"{tmp_path / "out"}"', f'"s3a://{lake}/out"')
    config.write_text(text.replace("[spark]", f'quarantine = "s3a://{raw}/quarantine"\n[spark]', 1))

    if crash:
        killed = cli("ingest", "all", "--config", str(config), env={**aws_env, "TEGRIDY_INGEST_CRASH_AT": crash})
        assert killed.returncode == -9, killed.stderr[-3000:]
    code, result = cli_json("ingest", "all", "--config", str(config), env=aws_env)
    assert code == 0, result
    # After the kill the dead run's manifest is taken back (its runner is gone) and run again.
    assert result["run"]["completed"] == 2
    rows = output_rows(s3, lake)
    assert sorted(int(r["id"]) for r in rows) == [r["id"] for r in valid]  # exact: none lost, none twice
    assert all(r["email"] != v["email"] for r, v in zip(sorted(rows, key=lambda r: int(r["id"])), valid))
    assert "quarantine/2026-12-02/empty.ndjson" in objects(s3, raw, "quarantine/")
    stored = objects(s3, lake)
    corrupt = [k for k in stored if k.startswith("out/_corrupt/") and k.endswith(".parquet")]
    assert len(corrupt) == 1
    secrets = [v["email"] for v in valid] + [v["ssn"] for v in valid] + ["canary.s3broken.q7@example.com"]
    assert not [k for k, data in stored.items() if any(s.encode() in data for s in secrets)]
    decoded = json.dumps(rows) + json.dumps(pq_rows(stored[corrupt[0]]))  # Snappy pages may split a string
    assert not [s for s in secrets if s in decoded]

    code, again = cli_json("ingest", "all", "--config", str(config), env=aws_env)
    assert code == 0 and again["run"]["manifests"] == [] and again["track"]["tracked"] == 0
    assert len(output_rows(s3, lake)) == len(valid)
    code, checked = cli_json("state", "validate", "--config", str(config), env=aws_env)
    assert code == 0 and checked["ok"], checked["problems"]
