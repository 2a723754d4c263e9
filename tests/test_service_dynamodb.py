"""The shared vault on DynamoDB Local (AWS's own implementation), with KMS on moto's server:
two handler processes agree, a tokenize-only function cannot read back, missing keys stop
everything, unprocessed items are retried, and no value reaches the table."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections import Counter

import pytest

from aws_local import HandlerProcess
from conftest import scan_table
from tegridy_tokens.service.config import Settings, build_engine
from tegridy_tokens.service.handler import handle_event
from tegridy_tokens.service.retry import Deadline

CANARY = "canary-d1e5-shared-vault@example.com"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", *args], capture_output=True, text=True)


@pytest.fixture()
def kms_keys(kms_local, aws_env, monkeypatch) -> tuple[str, str]:
    """Two KMS keys (tokenize, detokenize) on moto; the SDK variable points this process at it."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_local)
    aws_env["AWS_ENDPOINT_URL_KMS"] = kms_local
    kms = boto3.client("kms")
    return kms.create_key()["KeyMetadata"]["KeyId"], kms.create_key()["KeyMetadata"]["KeyId"]


def test_two_instances_share_one_vault(vault_table, kms_keys, aws_env, tmp_path):
    tokenize_key, detokenize_key = kms_keys
    url = f"dynamodb://{vault_table}"
    made = cli("keys", "init", "--vault", url, "--tokenize-kms-key", tokenize_key, "--detokenize-kms-key", detokenize_key)
    assert made.returncode == 0, made.stderr
    env = dict(aws_env, TEGRIDY_VAULT=url, TEGRIDY_OPERATIONS="tokenize,detokenize")
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
    instances = [HandlerProcess(env, home) for home in homes]
    values = [CANARY] + [f"user{i}@example.com" for i in range(999)]
    batches = [values[i:i + 100] for i in range(0, len(values), 100)]
    tokens: list[dict] = [{}, {}]

    def drive(index: int) -> None:
        for batch in batches:
            answer = instances[index].invoke({"requests": [{"data": v} for v in batch]})
            for value, response in zip(batch, answer["result"]["responses"]):
                tokens[index][value] = response["token"]

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert tokens[0] == tokens[1] and len(tokens[0]) == 1000
        assert len(set(tokens[0].values())) == 1000
        for reader, writer in ((0, 1), (1, 0)):
            theirs = list(tokens[writer].values())
            answer = instances[reader].invoke({"tokens": theirs})
            assert answer["result"]["tokens"] == {token: value for value, token in tokens[writer].items()}
    finally:
        outputs = [instance.close() for instance in instances]
    items = scan_table(vault_table)
    assert len(items) == 1001  # one item per value, and the keyring record
    assert CANARY not in json.dumps(items, default=repr) and CANARY.encode() not in repr(items).encode()
    assert all(CANARY not in output and tokens[0][CANARY] not in output for output in outputs)


def test_tokenize_only_function_holds_nothing_that_opens(vault_table, kms_keys, aws_env, tmp_path):
    tokenize_key, detokenize_key = kms_keys
    url = f"dynamodb://{vault_table}"
    assert cli("keys", "init", "--vault", url, "--tokenize-kms-key", tokenize_key,
               "--detokenize-kms-key", detokenize_key).returncode == 0
    instance = HandlerProcess(dict(aws_env, TEGRIDY_VAULT=url, TEGRIDY_OPERATIONS="tokenize"), tmp_path)
    try:
        token = instance.invoke({"requests": [{"data": CANARY}]})["result"]["responses"][0]["token"]
        refused = instance.invoke({"tokens": [token]})
        keyring = instance.call({"probe": "keyring"})
    finally:
        instance.close()
    assert refused["errorType"] == "AccessDenied" and "TEGRIDY_OPERATIONS" in refused["errorMessage"]
    assert token not in refused["errorMessage"]
    assert keyring == {"can_tokenize": True, "can_detokenize": False, "opening_versions": [],
                       "repr": keyring["repr"]} and "opening_versions=[]" in keyring["repr"]
    detokenizer = build_engine(Settings(url, frozenset({"detokenize"})))
    assert detokenizer.keyring.token_key is None  # and the other side holds no token key
    assert handle_event(detokenizer, {"tokens": [token]}) == {"tokens": {token: CANARY}}


def test_missing_or_mismatched_keys_stop_every_request(vault_table, aws_env, tmp_path):
    url = f"dynamodb://{vault_table}"
    instance = HandlerProcess(dict(aws_env, TEGRIDY_VAULT=url, TEGRIDY_OPERATIONS="both"), tmp_path)
    try:
        answers = [instance.invoke({"requests": [{"data": CANARY}]}), instance.invoke({"tokens": ["tgr_x"]})]
    finally:
        instance.close()
    for answer in answers:
        assert answer["errorType"] == "KeysNotReady" and "tegridy-tokens keys init" in answer["errorMessage"]
        assert CANARY not in answer["errorMessage"]
    assert scan_table(vault_table) == []  # nothing created: no keys, no entries

    # Keys made for another vault: refused too, and still nothing written.
    assert cli("keys", "init", "--vault", url, "--keyring", str(tmp_path / "ours.json")).returncode == 0
    other = tmp_path / "other"
    assert cli("keys", "init", "--vault", f"sqlite://{other}/vault.db", "--keyring", str(other / "keyring.json")).returncode == 0
    instance = HandlerProcess(dict(aws_env, TEGRIDY_VAULT=url, TEGRIDY_OPERATIONS="both",
                                   TEGRIDY_KEYRING=str(other / "keyring.json")), tmp_path)
    try:
        answers = [instance.invoke({"requests": [{"data": CANARY}]}), instance.invoke({"requests": [{"data": "x"}]})]
    finally:
        instance.close()
    for answer in answers:
        assert answer["errorType"] == "KeysNotReady" and "does not belong to vault" in answer["errorMessage"]
    assert [item["t"]["S"] for item in scan_table(vault_table)] == ["#keyring"]


def test_rotation_keeps_tokens_and_opens_old_entries(vault_table, aws_env, tmp_path):
    from tegridy_tokens.service.sealing import version_of

    url, keyring = f"dynamodb://{vault_table}", str(tmp_path / "keyring.json")
    assert cli("keys", "init", "--vault", url, "--keyring", keyring).returncode == 0
    settings = Settings(url, frozenset({"tokenize", "detokenize"}), keyring)
    old_values, new_values = [f"old{i}" for i in range(30)], [f"new{i}" for i in range(30)]
    running = build_engine(settings)  # an instance that was up before the rotation
    before = handle_event(running, {"requests": [{"data": v} for v in old_values]})["responses"]

    rotated = cli("keys", "rotate", "--vault", url, "--keyring", keyring)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(cli("keys", "status", "--vault", url, "--keyring", keyring).stdout)["current_version"] == 2
    engine = build_engine(settings)  # a new instance after the rotation
    again = handle_event(engine, {"requests": [{"data": v} for v in old_values]})["responses"]
    fresh = handle_event(engine, {"requests": [{"data": v} for v in new_values]})["responses"]
    assert [r["token"] for r in again] == [r["token"] for r in before]
    tokens = [r["token"] for r in before + fresh]
    assert handle_event(engine, {"tokens": tokens})["tokens"] == dict(zip(tokens, old_values + new_values))
    # The instance started before the rotation opens entries sealed after it (it reloads its keys).
    assert handle_event(running, {"tokens": tokens})["tokens"] == dict(zip(tokens, old_values + new_values))
    versions = Counter(version_of(bytes(item["s"]["B"])) for item in scan_table(vault_table) if "s" in item)
    assert versions == {1: 30, 2: 30}


class DropWrites:
    """The real DynamoDB client, except that BatchWriteItem hands back as unprocessed the items
    `drop(token, attempt)` picks, without sending them: throttling, injected."""

    def __init__(self, client, drop):
        self._client, self._drop = client, drop
        self.attempts: Counter = Counter()
        self.calls: Counter = Counter()

    def batch_write_item(self, RequestItems):
        self.calls["batch_write_item"] += 1
        [(table, requests)] = RequestItems.items()
        kept, dropped = [], []
        for request in requests:
            token = request["PutRequest"]["Item"]["t"]["S"]
            (dropped if self._drop(token, self.attempts[token]) else kept).append(request)
            self.attempts[token] += 1
        response = self._client.batch_write_item(RequestItems={table: kept}) if kept else {}
        unprocessed = response.get("UnprocessedItems", {}).get(table, []) + dropped
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def batch_get_item(self, **request):
        self.calls["batch_get_item"] += 1
        return self._client.batch_get_item(**request)

    def __getattr__(self, name):
        return getattr(self._client, name)


def one_in_five(token: str) -> bool:
    return int(hashlib.sha256(token.encode()).hexdigest(), 16) % 5 == 0


def test_unprocessed_writes_are_retried_until_time_runs_out(vault_table, aws_env, tmp_path):
    from tegridy_tokens.service.dynamodb_vault import default_client

    url, keyring = f"dynamodb://{vault_table}", str(tmp_path / "keyring.json")
    assert cli("keys", "init", "--vault", url, "--keyring", keyring).returncode == 0
    settings = Settings(url, frozenset({"tokenize", "detokenize"}), keyring)
    values = [f"v{i}@example.com" for i in range(500)]

    # 20% of the writes unprocessed on their first try: the answer is still exact.
    client = DropWrites(default_client(), lambda token, attempt: attempt == 0 and one_in_five(token))
    engine = build_engine(settings, dynamodb_client=client)
    responses = handle_event(engine, {"requests": [{"data": v} for v in values]})["responses"]
    assert all(r["success"] for r in responses) and [r["data"] for r in responses] == values
    assert sum(1 for token, attempts in client.attempts.items() if attempts == 2) == sum(map(one_in_five, client.attempts)) > 0
    tokens = [r["token"] for r in responses]
    assert handle_event(engine, {"tokens": tokens})["tokens"] == dict(zip(tokens, values))

    # Always unprocessed, and little time: exactly those items fail, each as retryable.
    more = [f"w{i}@example.com" for i in range(200)]
    client = DropWrites(default_client(), lambda token, attempt: one_in_five(token))
    engine = build_engine(settings, dynamodb_client=client)
    responses = handle_event(engine, {"requests": [{"data": v} for v in more]}, Deadline(0.3))["responses"]
    expected = [one_in_five(engine.token_for(v)) for v in more]
    assert [not r["success"] for r in responses] == expected and any(expected)
    assert all(r == {"success": False, "error": r["error"], "retryable": True} for r in responses if not r["success"])
    assert all(r["success"] and r["data"] == v for r, v in zip(responses, more) if r["success"])


def test_a_value_over_dynamodbs_item_limit_fails_alone(vault_table, aws_env, tmp_path):
    url, keyring = f"dynamodb://{vault_table}", str(tmp_path / "keyring.json")
    assert cli("keys", "init", "--vault", url, "--keyring", keyring).returncode == 0
    engine = build_engine(Settings(url, frozenset({"tokenize", "detokenize"}), keyring))
    values = ["small@example.com", "x" * (401 * 1024), "y" * (300 * 1024)]
    responses = handle_event(engine, {"requests": [{"data": v} for v in values]})["responses"]
    assert [r["success"] for r in responses] == [True, False, True]
    assert "too large" in responses[1]["error"] and "retryable" not in responses[1]
    tokens = [responses[0]["token"], responses[2]["token"]]
    assert handle_event(engine, {"tokens": tokens})["tokens"] == {tokens[0]: values[0], tokens[1]: values[2]}
