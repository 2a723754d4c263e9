"""The shared vault on DynamoDB, in seed 002's batch discipline.

Reads are BatchGetItem in chunks of 100 and writes BatchWriteItem in chunks of 25, all chunks
of a batch sent at once. UnprocessedKeys/UnprocessedItems are retried with exponential backoff
and full jitter until the invocation's deadline; what is still left is returned as failed,
item by item, never as a failed batch. Writes are idempotent: the key is the token, which the
value decides, so racing instances write the same item and every copy opens to the same value.

Table: partition key `t` (S, the token); attribute `s` (B, the sealed value). The keyring record
is the item whose key is `#keyring` (tokens start with `tgr_`, so they never collide with it).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

from .errors import VaultUnavailable
from .retry import Deadline, sleep_before_retry

READ_CHUNK = 100    # BatchGetItem's limit
WRITE_CHUNK = 25    # BatchWriteItem's limit
WORKERS = 16        # chunks in flight at once: 500 new values are 5 reads, then 20 writes
# Errors for which the whole call may be sent again; any other is a fault to report.
RETRYABLE_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                   "InternalServerError", "ServiceUnavailable"}


def default_client() -> Any:
    import boto3
    from botocore.config import Config

    # The SDK's own retries handle whole-call throttling; connections cover every worker.
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3},
                                                  max_pool_connections=WORKERS * 2,
                                                  connect_timeout=3, read_timeout=10))


def create_table(client: Any, table: str) -> None:
    """The vault table as the template declares it (on-demand); for local runs and tests."""
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "t", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "t", "AttributeType": "S"}])
    client.get_waiter("table_exists").wait(TableName=table)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class DynamoDbVault:
    # DynamoDB's 400 KB item limit, less room for the attribute names and the item's overhead:
    # a larger value fails alone instead of failing its whole BatchWriteItem.
    max_entry_bytes = 400 * 1024 - 64

    def __init__(self, table: str, client: Any = None):
        self.table = table
        self.url = f"dynamodb://{table}"
        self._client = client
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.operations = 0

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = default_client()
            return self._client

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tegridy-dynamodb")
            return self._pool

    def _call(self, operation: str, **request: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            self.operations += 1
        try:
            return getattr(self.client, operation)(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if code in RETRYABLE_CODES:
                raise _Retryable(code) from None
            if code == "ResourceNotFoundException":
                raise VaultUnavailable(f"DynamoDB table {self.table} not found; deploy deploy/template.yaml "
                                       "or point TEGRIDY_VAULT at the vault table") from None
            raise VaultUnavailable(f"DynamoDB refused {operation} on table {self.table} ({code})") from None
        except BotoCoreError as error:
            raise _Retryable(type(error).__name__) from None

    def _run_chunks(self, work: Any, chunks: list[list]) -> list:
        if len(chunks) == 1:
            return [work(chunks[0])]
        return list(self._executor().map(work, chunks))

    # -- entries --------------------------------------------------------------------------------

    def get_many(self, tokens: Sequence[str], deadline: Deadline) -> tuple[dict[str, bytes], set[str]]:
        tokens = list(dict.fromkeys(tokens))
        found: dict[str, bytes] = {}
        failed: set[str] = set()
        for chunk_found, chunk_failed in self._run_chunks(lambda chunk: self._read_chunk(chunk, deadline),
                                                          _chunks(tokens, READ_CHUNK)):
            found.update(chunk_found)
            failed |= chunk_failed
        return found, failed

    def _read_chunk(self, tokens: list[str], deadline: Deadline) -> tuple[dict[str, bytes], set[str]]:
        found: dict[str, bytes] = {}
        keys = [{"t": {"S": token}} for token in tokens]
        attempt = 0
        while keys:
            try:
                response = self._call("batch_get_item", RequestItems={
                    self.table: {"Keys": keys, "ProjectionExpression": "t, s"}})
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["t"]["S"]] = bytes(item["s"]["B"])
                keys = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            except _Retryable:
                pass  # the whole chunk is retried below, as unprocessed
            if keys and not sleep_before_retry(attempt, deadline):
                break
            attempt += 1
        return found, {key["t"]["S"] for key in keys}

    def put_many(self, entries: Mapping[str, bytes], deadline: Deadline) -> set[str]:
        requests = [{"PutRequest": {"Item": {"t": {"S": token}, "s": {"B": sealed}}}} for token, sealed in entries.items()]
        failed: set[str] = set()
        for chunk_failed in self._run_chunks(lambda chunk: self._write_chunk(chunk, deadline), _chunks(requests, WRITE_CHUNK)):
            failed |= chunk_failed
        return failed

    def _write_chunk(self, requests: list[dict], deadline: Deadline) -> set[str]:
        attempt = 0
        while requests:
            try:
                response = self._call("batch_write_item", RequestItems={self.table: requests})
                requests = response.get("UnprocessedItems", {}).get(self.table, [])
            except _Retryable:
                pass
            if requests and not sleep_before_retry(attempt, deadline):
                break
            attempt += 1
        return {request["PutRequest"]["Item"]["t"]["S"] for request in requests}

    # -- the keyring record ---------------------------------------------------------------------

    def get_meta(self, name: str) -> tuple[str, int] | None:
        try:
            item = self._call("get_item", TableName=self.table, Key={"t": {"S": "#" + name}},
                              ConsistentRead=True).get("Item")
        except _Retryable as error:
            raise VaultUnavailable(f"DynamoDB table {self.table} did not answer ({error}); retry") from None
        if item is None:
            return None
        return item["d"]["S"], int(item["r"]["N"])

    def put_meta(self, name: str, document: str, expected_revision: int | None) -> bool:
        from botocore.exceptions import ClientError

        item = {"t": {"S": "#" + name}, "d": {"S": document}, "r": {"N": str((expected_revision or 0) + 1)}}
        if expected_revision is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(t)"}
        else:
            condition = {"ConditionExpression": "r = :expected",
                         "ExpressionAttributeValues": {":expected": {"N": str(expected_revision)}}}
        try:
            self.client.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise VaultUnavailable(f"DynamoDB refused the keyring record on table {self.table} "
                                   f"({error.response.get('Error', {}).get('Code', 'Unknown')})") from None
        return True


class _Retryable(Exception):
    """A whole call failed in a way that may pass on retry (throttling, a dropped connection)."""
