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
    """The real DynamoDB client, except that PutItem answers ProvisionedThroughputExceeded, without
    sending it, for the items `drop(token, attempt)` picks: throttling, injected."""

    def __init__(self, client, drop):
        self._client, self._drop = client, drop
        self._lock = threading.Lock()
        self.attempts: Counter = Counter()

    def put_item(self, **request):
        from botocore.exceptions import ClientError

        token = request["Item"]["t"]["S"]
        with self._lock:
            attempt = self.attempts[token]
            self.attempts[token] += 1
        if self._drop(token, attempt):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                              "PutItem")
        return self._client.put_item(**request)

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


def test_keys_init_refuses_a_vault_whose_keyring_record_is_gone(vault_table, kms_keys, aws_env, tmp_path):
    from tegridy_tokens.service.dynamodb_vault import default_client

    tokenize_key, detokenize_key = kms_keys
    url = f"dynamodb://{vault_table}"
    init = ("keys", "init", "--vault", url, "--tokenize-kms-key", tokenize_key, "--detokenize-kms-key", detokenize_key)
    assert cli(*init).returncode == 0
    keyring_id = json.loads(cli("keys", "status", "--vault", url).stdout)["keyring_id"]
    engine = build_engine(Settings(url, frozenset({"tokenize"})))
    values = [CANARY, "b@example.com", "c@example.com"]
    tokens = [r["token"] for r in handle_event(engine, {"requests": [{"data": v} for v in values]})["responses"]]

    default_client().delete_item(TableName=vault_table, Key={"t": {"S": "#keyring"}})  # the accident
    again = cli(*init)
    assert again.returncode == 1, again.stdout
    assert "holds 3 entries but no keyring record" in again.stderr and keyring_id in again.stderr
    assert "point-in-time recovery" in again.stderr
    assert CANARY not in again.stderr and not any(token in again.stderr for token in tokens)
    items = scan_table(vault_table)
    assert len(items) == 3 and "#keyring" not in [item["t"]["S"] for item in items]  # no new keys made


def test_an_entry_sealed_under_an_unknown_keyring_is_an_error_not_empty(vault_table, kms_keys, aws_env, tmp_path):
    from tegridy_tokens.service.dynamodb_vault import create_table, default_client
    from tegridy_tokens.service.errors import KeyringError

    tokenize_key, detokenize_key = kms_keys
    keys = ("--tokenize-kms-key", tokenize_key, "--detokenize-kms-key", detokenize_key)
    lost, url = f"dynamodb://{vault_table}", f"dynamodb://{vault_table}-new"
    create_table(default_client(), f"{vault_table}-new")
    assert cli("keys", "init", "--vault", lost, *keys).returncode == 0
    lost_id = json.loads(cli("keys", "status", "--vault", lost).stdout)["keyring_id"]
    old = build_engine(Settings(lost, frozenset({"tokenize", "detokenize"})))
    [token] = [r["token"] for r in handle_event(old, {"requests": [{"data": CANARY}]})["responses"]]
    # Another keyring over the same entries: what a re-made keyring record leaves behind.
    assert cli("keys", "init", "--vault", url, *keys).returncode == 0
    for item in scan_table(vault_table):
        if item["t"]["S"] != "#keyring":
            default_client().put_item(TableName=f"{vault_table}-new", Item=item)
    engine = build_engine(Settings(url, frozenset({"tokenize", "detokenize"})))
    with pytest.raises(KeyringError) as refused:  # before: {"tokens": {}}, as if never tokenized
        handle_event(engine, {"tokens": [token, "tgr_absent"]})
    message = str(refused.value)
    assert type(refused.value).__name__ == "UnknownKeyring"
    assert "1 of 2 tokens" in message and lost_id in message and engine.keyring.keyring_id in message
    assert "point-in-time recovery" in message and token not in message and CANARY not in message
    # The formats shape meets the same error.
    with pytest.raises(KeyringError, match=lost_id):
        handle_event(engine, {"tokens": [token], "formats": [None]})
    assert handle_event(old, {"tokens": [token]}) == {"tokens": {token: CANARY}}  # its own keyring still opens it


def test_tokenize_never_replaces_an_entry(vault_table, aws_env, tmp_path):
    from tegridy_tokens.service.dynamodb_vault import DynamoDbVault
    from tegridy_tokens.service.sealing import seal_many

    url, keyring = f"dynamodb://{vault_table}", str(tmp_path / "keyring.json")
    assert cli("keys", "init", "--vault", url, "--keyring", keyring).returncode == 0
    engine = build_engine(Settings(url, frozenset({"tokenize", "detokenize"}), keyring))
    [token] = [r["token"] for r in handle_event(engine, {"requests": [{"data": CANARY}]})["responses"]]
    [before] = [item for item in scan_table(vault_table) if item["t"]["S"] == token]
    other = seal_many(1, engine.keyring.sealing_public_key, {token: "another value"})
    # A write for an existing token (a racing instance's, or a forged one) leaves the entry as it was.
    assert DynamoDbVault(vault_table).put_many(other, Deadline(5)) == set()
    assert [item for item in scan_table(vault_table) if item["t"]["S"] == token] == [before]
    assert handle_event(engine, {"tokens": [token]}) == {"tokens": {token: CANARY}}
