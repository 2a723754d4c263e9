"""Shared fixtures: the real reference service (in-process, over HTTP) and a real local Spark
session with the real jar, pointed at it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def service_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tegridy-home")


@pytest.fixture(scope="session")
def service(service_home):
    """The reference service shared by the Spark tests; `received` records every event it got."""
    from tegridy_tokens.service import local_service

    received: list = []
    with local_service(vault=service_home / "vault.db", on_event=received.append) as running:
        running.received = received
        yield running


@pytest.fixture(scope="session")
def spark(service):
    """A real local Spark (local[2]) with the bundled jar and extension, against `service`."""
    from pyspark.sql import SparkSession

    import tegridy_tokens

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master("local[2]").appName("tegridy-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4"))
    session = tegridy_tokens.configure_spark(builder, function_name=service.function_name,
                                             detokenize_function_name=service.detokenize_function_name,
                                             endpoint=service.endpoint).getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    yield session
    session.stop()


@pytest.fixture()
def session_settings(spark):
    """Sets Spark session confs for one test (`session_settings({...})`); puts back what was there."""
    previous: dict = {}

    def apply(settings: dict) -> None:
        for key, value in settings.items():
            previous.setdefault(key, spark.conf.get(key, None))
            spark.conf.set(key, value)

    yield apply
    for key, value in previous.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def service_tokens(service, values: list) -> list:
    """The reference service's own tokens for `values`, asked through boto3 (the expected output)."""
    import json

    client = lambda_client(service.endpoint)
    response = client.invoke(FunctionName=service.function_name,
                             Payload=json.dumps({"requests": [{"data": v} for v in values]}))
    return [r["token"] for r in json.loads(response["Payload"].read())["responses"]]


def lambda_client(endpoint: str):
    """The unchanged boto3 Lambda client, pointed at `endpoint`, with its own retries off."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="tegridy-local", aws_secret_access_key="tegridy-local",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60),
    )


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory):
    """AWS's DynamoDB Local (-inMemory) on a free port, for the whole session; its endpoint."""
    from aws_local import start_dynamodb_local, stop

    process, endpoint = start_dynamodb_local(tmp_path_factory.mktemp("dynamodb-local"))
    yield endpoint
    stop(process)


@pytest.fixture(scope="session")
def kms_local(tmp_path_factory):
    """moto's server, used for KMS only; its endpoint."""
    from aws_local import start_moto, stop

    process, endpoint = start_moto(tmp_path_factory.mktemp("moto"))
    yield endpoint
    stop(process)


@pytest.fixture()
def aws_env(dynamodb_local, monkeypatch) -> dict:
    """The SDK's standard variables, pointing this process (and children given them) at DynamoDB Local."""
    from aws_local import CREDENTIALS

    env = dict(CREDENTIALS, AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture()
def vault_table(aws_env, request) -> str:
    """A new, empty vault table in DynamoDB Local; its name."""
    import re
    import uuid

    from tegridy_tokens.service.dynamodb_vault import create_table, default_client

    name = "tegridy-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60] + "-" + uuid.uuid4().hex[:8]
    create_table(default_client(), name)
    return name


def scan_table(table: str) -> list:
    """Every item of a DynamoDB table (through the SDK's environment settings)."""
    from tegridy_tokens.service.dynamodb_vault import default_client

    return list(default_client().get_paginator("scan").paginate(TableName=table).search("Items[]"))
