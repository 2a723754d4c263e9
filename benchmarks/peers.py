"""What users would write themselves, measured beside tegridy_tokenize_hp on the same service.

- `seed001_row_udf`: seed 001's row-at-a-time Python UDF: one Lambda call per row.
- `pandas_peer_udf`: a strong pandas_udf: 500-value batches, dedup per batch, a worker-level cache,
  one boto3 client reused per Python worker.

Both speak the seeds' wire protocol to the same endpoint through the unchanged boto3 client.
"""

from __future__ import annotations

import json

import pandas as pd
from pyspark.sql.functions import pandas_udf, udf
from pyspark.sql.types import StringType

BATCH = 500
_clients: dict = {}
_cache: dict = {}


def _client(endpoint: str):
    client = _clients.get(endpoint)
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "lambda", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="tegridy-local", aws_secret_access_key="tegridy-local",
            config=Config(retries={"total_max_attempts": 8, "mode": "standard"}, max_pool_connections=4))
        _clients[endpoint] = client
    return client


def _tokenize(endpoint: str, function_name: str, values: list) -> list:
    response = _client(endpoint).invoke(
        FunctionName=function_name, Payload=json.dumps({"requests": [{"data": v} for v in values]}))
    return [item.get("token") for item in json.loads(response["Payload"].read())["responses"]]


def seed001_row_udf(endpoint: str, function_name: str):
    def tokenize_one(value):
        if value is None or not value.strip():
            return value
        return _tokenize(endpoint, function_name, [value])[0]

    return udf(tokenize_one, StringType())


def pandas_peer_udf(endpoint: str, function_name: str):
    @pandas_udf(StringType())
    def tokenize_batch(values: pd.Series) -> pd.Series:
        missing = [v for v in pd.unique(values.dropna()) if v not in _cache and v.strip()]
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            _cache.update(zip(chunk, _tokenize(endpoint, function_name, chunk)))
        return values.map(lambda v: _cache.get(v, v) if v is not None else None)

    return tokenize_batch
