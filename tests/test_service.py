"""The reference service through the unchanged boto3 Lambda client, over HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.tokens import TOKEN_PREFIX

CANARY = "canary-7f3a9-do-not-log@example.com"


def invoke(client, function_name: str, event) -> dict:
    payload = event if isinstance(event, (bytes, str)) else json.dumps(event)
    response = client.invoke(FunctionName=function_name, Payload=payload)
    body = json.loads(response["Payload"].read())
    return {"status": response["StatusCode"], "error": response.get("FunctionError"), "body": body}


def tokenize(client, function_name: str, values: list) -> list:
    result = invoke(client, function_name, {"requests": [{"data": v} for v in values]})
    assert result["status"] == 200 and result["error"] is None
    return result["body"]["responses"]


@pytest.fixture()
def running(tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        yield service


@pytest.fixture()
def client(running):
    return lambda_client(running.endpoint)


def test_responses_keep_order_and_count(running, client):
    values = [f"user{i}@example.com" for i in range(50)] + ["ünïcødé ✓", "a", "user3@example.com"]
    responses = tokenize(client, running.function_name, values)
    assert len(responses) == len(values)
    assert [r["data"] for r in responses] == values
    assert all(r["success"] and r["token"].startswith(TOKEN_PREFIX) for r in responses)


def test_tokens_are_convergent_and_distinct(running, client):
    first = tokenize(client, running.function_name, ["alice@example.com", "bob@example.com", "alice@example.com"])
    second = tokenize(client, running.function_name, ["alice@example.com"])
    assert first[0]["token"] == first[2]["token"] == second[0]["token"]
    assert first[0]["token"] != first[1]["token"]
    assert CANARY not in first[0]["token"]


def test_detokenize_round_trip_and_unknown_token(running, client):
    values = ["alice@example.com", "123-45-6789", "ünïcødé ✓"]
    tokens = [r["token"] for r in tokenize(client, running.function_name, values)]
    result = invoke(client, running.detokenize_function_name, {"tokens": tokens + ["tgr_unknown", "not-a-token"]})
    assert result["status"] == 200 and result["error"] is None
    assert result["body"] == {"tokens": dict(zip(tokens, values))}


def test_non_string_item_fails_alone(running, client):
    responses = tokenize(client, running.function_name, ["ok@example.com", 5, None])
    assert responses[0]["success"] is True
    assert responses[1] == {"success": False, "error": "data must be a string, got int"}
    assert responses[2]["success"] is False


def test_unknown_function_is_404(running, client):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as error:
        client.invoke(FunctionName="some-other-function", Payload=b"{}")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_function_arn_is_accepted(running, client):
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{running.function_name}"
    assert tokenize(client, arn, ["x@example.com"])[0]["success"] is True


def test_request_over_6mb_is_413(running, client):
    big = "x" * (6 * 1024 * 1024)
    with pytest.raises(client.exceptions.ClientError) as error:
        client.invoke(FunctionName=running.function_name, Payload=json.dumps({"requests": [{"data": big}]}))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_response_over_6mb_is_a_function_error(running, client):
    # 160 values of 40 KB: stored in two small-enough batches, then asked back in one
    # detokenize whose request is small but whose answer is 6.4 MB.
    values = ["v%06d" % i + "y" * 40000 for i in range(160)]
    tokens = [r["token"] for r in tokenize(client, running.function_name, values[:80])]
    tokens += [r["token"] for r in tokenize(client, running.function_name, values[80:])]
    result = invoke(client, running.detokenize_function_name, {"tokens": tokens})
    assert result["error"] == "Unhandled"
    assert result["body"]["errorType"] == "Function.ResponseSizeTooLarge"


def test_malformed_payloads(running, client):
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=running.function_name, Payload=b"{not json")
    result = invoke(client, running.function_name, {"something": "else"})
    assert result["status"] == 200 and result["error"] == "Unhandled"
    assert result["body"]["errorType"] == "InvalidRequest"
    assert "'requests'" in result["body"]["errorMessage"]
    result = invoke(client, running.function_name, {"requests": "not a list"})
    assert result["error"] == "Unhandled"


def test_concurrency_limit_is_429(tmp_path):
    with local_service(vault=tmp_path / "vault.db", max_concurrency=1, latency_ms=3000) as service:
        client = lambda_client(service.endpoint)
        first: dict = {}
        slow = threading.Thread(target=lambda: first.update(invoke(client, service.function_name, {"requests": [{"data": "a"}]})))
        slow.start()
        deadline = time.monotonic() + 30
        while service.stats()["invocations"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(client.exceptions.TooManyRequestsException):
            client.invoke(FunctionName=service.function_name, Payload=json.dumps({"requests": [{"data": "b"}]}))
        slow.join()
        assert first["body"]["responses"][0]["success"] is True
        assert service.stats()["throttled"] == 1


def test_many_invocations_at_once(running, client):
    results: list = []

    def call(i: int) -> None:
        results.append(tokenize(client, running.function_name, [f"c{i}-{j}" for j in range(20)]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16 and all(len(r) == 20 and all(x["success"] for x in r) for r in results)


def test_restart_with_same_vault_keeps_tokens(tmp_path):
    values = ["alice@example.com", "bob@example.com"]
    with local_service(vault=tmp_path / "vault.db") as service:
        before = [r["token"] for r in tokenize(lambda_client(service.endpoint), service.function_name, values)]
    with local_service(vault=tmp_path / "vault.db") as service:
        client = lambda_client(service.endpoint)
        after = [r["token"] for r in tokenize(client, service.function_name, values)]
        restored = invoke(client, service.detokenize_function_name, {"tokens": before})["body"]["tokens"]
    assert before == after
    assert restored == dict(zip(before, values))


def test_keyring_is_private_and_vault_holds_no_plaintext(tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        tokenize(lambda_client(service.endpoint), service.function_name, [CANARY])
    keyring = tmp_path / "keyring.json"
    assert keyring.stat().st_mode & 0o777 == 0o600
    for path in tmp_path.iterdir():
        if path.name.startswith("vault.db"):
            assert CANARY.encode() not in path.read_bytes(), path.name
    assert b"token_key" not in (tmp_path / "vault.db").read_bytes()  # the keyring stays out of the vault
