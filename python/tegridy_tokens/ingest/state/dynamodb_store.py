"""The state table in DynamoDB (`dynamodb://TABLE`), the same records as SQLite's: partition key
`pk` = `file#<path>` | `manifest#<id>` | `lock#<name>`; the record as JSON in `body`, with
`status`, `version` and `updated_at` beside it for the conditions and for the `by-status` index
(`kind_status`, `updated_at`), which `list --status` queries instead of scanning the table.
The table is created on first use when missing (on-demand); `expires_at` is the lock's, and
`ttl` lets DynamoDB's TTL sweep dead locks away."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

from .store import Record, StateStore

INDEX = "by-status"


def default_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def create_table(client: Any, table: str) -> None:
    client.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "kind_status", "AttributeType": "S"},
                              {"AttributeName": "updated_at", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{"IndexName": INDEX, "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "kind_status", "KeyType": "HASH"},
                                               {"AttributeName": "updated_at", "KeyType": "RANGE"}]}])
    client.get_waiter("table_exists").wait(TableName=table)


class DynamoDbStateStore(StateStore):
    def __init__(self, table: str, client: Any = None, clock: Callable[[], float] = time.time):
        super().__init__(clock)
        self.table = table
        self.url = "dynamodb://" + table
        self.client = client or default_client()
        self._conditional_failed = self.client.exceptions.ConditionalCheckFailedException
        try:
            self.client.describe_table(TableName=table)
        except self.client.exceptions.ResourceNotFoundException:
            try:
                create_table(self.client, table)
            except self.client.exceptions.ResourceInUseException:  # another process made it first
                self.client.get_waiter("table_exists").wait(TableName=table)

    def _item(self, kind: str, key: str, record: Record) -> dict:
        return {"pk": {"S": f"{kind}#{key}"}, "kind_status": {"S": f"{kind}#{record['status']}"},
                "status": {"S": record["status"]}, "version": {"N": str(record["version"])},
                "updated_at": {"N": repr(float(record["updated_at"]))}, "body": {"S": json.dumps(record)}}

    def _insert(self, kind: str, key: str, record: Record) -> bool:
        try:
            self.client.put_item(TableName=self.table, Item=self._item(kind, key, record),
                                 ConditionExpression="attribute_not_exists(pk)")
            return True
        except self._conditional_failed:
            return False

    def _replace(self, kind: str, key: str, record: Record, expected_version: int) -> bool:
        try:
            self.client.put_item(TableName=self.table, Item=self._item(kind, key, record),
                                 ConditionExpression="version = :v",
                                 ExpressionAttributeValues={":v": {"N": str(expected_version)}})
            return True
        except self._conditional_failed:
            return False

    def _get(self, kind: str, key: str) -> Record | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"{kind}#{key}"}}, ConsistentRead=True).get("Item")
        return json.loads(item["body"]["S"]) if item else None

    def _get_many(self, kind: str, keys: list[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for start in range(0, len(keys), 100):  # BatchGetItem's limit
            request = {self.table: {"Keys": [{"pk": {"S": f"{kind}#{k}"}} for k in keys[start:start + 100]],
                                    "ConsistentRead": True, "ProjectionExpression": "body"}}
            for attempt in range(10):
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.table, []):
                    record = json.loads(item["body"]["S"])
                    found[record["key"]] = record
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
            if request:
                raise RuntimeError(f"DynamoDB left keys of {self.table} unread after 10 attempts (throttled); try again")
        return found

    def _scan(self, kind: str, status: str | None) -> Iterator[Record]:
        if status is None:
            pages = self.client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True, FilterExpression="begins_with(pk, :k)",
                ExpressionAttributeValues={":k": {"S": kind + "#"}})
        else:
            # The index is eventually consistent; each hit is re-read below, and dropped if it moved on.
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table, IndexName=INDEX, KeyConditionExpression="kind_status = :s",
                ExpressionAttributeValues={":s": {"S": f"{kind}#{status}"}})
        for page in pages:
            for item in page.get("Items", []):
                record = json.loads(item["body"]["S"])
                if status is None or record["status"] == status:
                    yield record

    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        now = self.clock()
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"lock#{name}"}, "owner": {"S": owner}, "expires_at": {"N": repr(now + ttl_s)},
                      "ttl": {"N": str(int(now + ttl_s) + 1)}},
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":owner": {"S": owner}})
            return True
        except self._conditional_failed:
            return False

    def release_lock(self, name: str, owner: str) -> bool:
        try:
            self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"lock#{name}"}},
                                    ConditionExpression="#o = :owner", ExpressionAttributeNames={"#o": "owner"},
                                    ExpressionAttributeValues={":owner": {"S": owner}})
            return True
        except self._conditional_failed:
            return False

    def lock_holder(self, name: str) -> dict | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"lock#{name}"}}, ConsistentRead=True).get("Item")
        return {"owner": item["owner"]["S"], "expires_at": float(item["expires_at"]["N"])} if item else None
