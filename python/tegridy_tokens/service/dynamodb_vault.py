"""The shared vault on DynamoDB.

Reads are BatchGetItem in chunks of 100, all chunks of a batch sent at once. Writes are PutItem
with `attribute_not_exists(t)`, one per new entry, spread over the same workers: the tokenize
role may add entries but never replace or delete one (deploy/template.yaml grants it PutItem
and no BatchWriteItem, whose DeleteRequest deletes). An entry already there is the same token,
which the value decides, so a racing instance's copy stands; it is checked to be this keyring's.
Unprocessed keys and throttled writes are retried with exponential backoff and full jitter until
the invocation's deadline; what is still left is returned as failed, item by item, never as a
failed batch.

Erasure (erasure.py) alone writes over entries: its tombstones go out as BatchWriteItem PutRequests,
25 a call, which only the erasure role may send (it never holds a key).

Table: partition key `t` (S, the token); attribute `s` (B, the sealed value). The keyring record
is the item whose key is `#keyring` (tokens start with `tgr_`, so they never collide with it).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Mapping, Sequence

from .errors import VaultUnavailable
from .retry import Deadline, sleep_before_retry
from .sealing import keyring_of

READ_CHUNK = 100    # BatchGetItem's limit
WRITE_CHUNK = 25    # BatchWriteItem's limit
WORKERS = 16        # calls in flight at once: 500 new values are 5 reads, then 500 writes 16 at a time
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
    # a larger value fails alone, as "too large", before it is sent.
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
            if code == "ConditionalCheckFailedException":
                raise _Exists(error.response.get("Item")) from None
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
        """Adds each entry unless its token has one; returns the tokens not stored in time. An
        entry found there already counts as stored if it is the same keyring's (or says none)."""
        items = list(entries.items())
        share = -(-len(items) // WORKERS) or 1  # one share of the entries per worker
        failed: set[str] = set()
        for chunk_failed in self._run_chunks(lambda chunk: self._write_chunk(chunk, deadline), _chunks(items, share)):
            failed |= chunk_failed
        return failed

    def replace_many(self, entries: Mapping[str, bytes], deadline: Deadline) -> set[str]:
        """Writes each entry over its token's, 25 a BatchWriteItem, the calls spread over the workers;
        returns the tokens not written in time."""
        failed: set[str] = set()
        for chunk_failed in self._run_chunks(lambda chunk: self._replace_chunk(chunk, deadline),
                                             _chunks(list(entries.items()), WRITE_CHUNK)):
            failed |= chunk_failed
        return failed

    def _replace_chunk(self, items: list[tuple[str, bytes]], deadline: Deadline) -> set[str]:
        requests = [{"PutRequest": {"Item": {"t": {"S": token}, "s": {"B": entry}}}} for token, entry in items]
        attempt = 0
        while requests:
            try:
                response = self._call("batch_write_item", RequestItems={self.table: requests})
                requests = response.get("UnprocessedItems", {}).get(self.table, [])
            except _Retryable:
                pass  # the whole chunk is sent again below
            if requests and not sleep_before_retry(attempt, deadline):
                break
            attempt += 1
        return {request["PutRequest"]["Item"]["t"]["S"] for request in requests}

    def _write_chunk(self, items: list[tuple[str, bytes]], deadline: Deadline) -> set[str]:
        return {token for token, sealed in items if not self._add(token, sealed, deadline)}

    def _add(self, token: str, sealed: bytes, deadline: Deadline) -> bool:
        attempt = 0
        while True:
            try:
                self._call("put_item", TableName=self.table, Item={"t": {"S": token}, "s": {"B": sealed}},
                           ConditionExpression="attribute_not_exists(t)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return True
            except _Exists as existing:
                stored = existing.item or self._stored(token)
                if stored is not None and "s" in stored:
                    # Another keyring's entry is not this value's: failed here, named by the engine's next read.
                    theirs, ours = keyring_of(bytes(stored["s"]["B"])), keyring_of(sealed)
                    return theirs is None or ours is None or theirs == ours
                # else gone again, or not read: tried again below
            except _Retryable:
                pass
            if not sleep_before_retry(attempt, deadline):
                return False
            attempt += 1

    def _stored(self, token: str) -> dict | None:
        """The item under `token` (read when DynamoDB did not return it with the failed condition)."""
        try:
            return self._call("get_item", TableName=self.table, Key={"t": {"S": token}}, ConsistentRead=True).get("Item")
        except _Retryable:
            return None

    def sealed_entries(self) -> Iterator[bytes]:
        """Every entry's sealed value, page by page (a full scan: keys init reads it only when the
        vault has no keyring record, to refuse new keys over existing entries)."""
        request: dict[str, Any] = {"TableName": self.table, "ProjectionExpression": "s",
                                   "FilterExpression": "attribute_exists(s)"}
        while True:
            try:
                page = self._call("scan", **request)
            except _Retryable as error:
                raise VaultUnavailable(f"DynamoDB table {self.table} did not answer ({error}); retry") from None
            yield from (bytes(item["s"]["B"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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


class _Exists(Exception):
    """A conditional PutItem found an item under the key; `item` is it, when DynamoDB returned it."""

    def __init__(self, item: dict | None):
        super().__init__("exists")
        self.item = item


class _Retryable(Exception):
    """A whole call failed in a way that may pass on retry (throttling, a dropped connection)."""
