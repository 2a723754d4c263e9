"""The local server answers as Lambda does, seen through boto3 (and raw HTTP where boto3 hides
the body): Event invocations, LogType Tail, the 404 body, 429's Retry-After and Reason,
qualifiers, routes other than Invoke, the response limit."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.server import MAX_RESPONSE_BYTES

CANARY = "canary-fidelity-0c4d@example.com"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with local_service(vault=tmp_path_factory.mktemp("fidelity") / "vault.db") as service:
        yield service


def raw(endpoint: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(endpoint.split("//")[1], timeout=30)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


def test_event_invocation_is_202_without_payload(running):
    response = lambda_client(running.endpoint).invoke(FunctionName=running.function_name, InvocationType="Event",
                                                      Payload=json.dumps({"requests": [{"data": CANARY}]}))
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""


def test_log_tail_is_this_invocations_log_without_values(running):
    response = lambda_client(running.endpoint).invoke(FunctionName=running.function_name, LogType="Tail",
                                                      Payload=json.dumps({"requests": [{"data": CANARY}]}))
    token = json.loads(response["Payload"].read())["responses"][0]["token"]
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in tail and f"REPORT RequestId: {request_id}" in tail
    assert len(tail.encode()) <= 4096
    assert CANARY not in tail and token not in tail


def test_404_body_is_lambdas(running):
    status, headers, body = raw(running.endpoint, "POST", "/2015-03-31/functions/no-such-function/invocations", b"{}")
    assert status == 404 and headers["x-amzn-errortype"] == "ResourceNotFoundException"
    document = json.loads(body)
    assert document["Type"] == "User" and document["Message"].startswith("Function not found: arn:aws:lambda:")


def test_unknown_qualifier_is_404_and_executed_version_is_latest(running):
    client = lambda_client(running.endpoint)
    payload = json.dumps({"requests": [{"data": CANARY}]})
    for qualifier in ("7", "live"):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as missing:
            client.invoke(FunctionName=running.function_name, Qualifier=qualifier, Payload=payload)
        assert missing.value.response["Error"]["Message"].endswith(f":{running.function_name}:{qualifier}")
    response = client.invoke(FunctionName=running.function_name, Qualifier="$LATEST", Payload=payload)
    assert response["ExecutedVersion"] == "$LATEST"


def test_concurrency_429_carries_retry_after_and_reason(tmp_path):
    import threading

    with local_service(vault=tmp_path / "vault.db", max_concurrency=1, latency_ms=2000) as service:
        body = json.dumps({"requests": [{"data": "a"}]}).encode()
        slow = threading.Thread(target=raw, args=(service.endpoint, "POST",
                                                  f"/2015-03-31/functions/{service.function_name}/invocations", body))
        slow.start()
        import time
        deadline = time.monotonic() + 30
        while service.stats()["invocations"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, answer = raw(service.endpoint, "POST",
                                      f"/2015-03-31/functions/{service.function_name}/invocations", body)
        slow.join()
        assert status == 429 and headers["retry-after"] == "1"
        assert json.loads(answer)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_other_routes_give_lambda_json_errors(running):
    for method, path in (("GET", "/"), ("GET", "/2015-03-31/functions/tegridy-tokens/invocations"),
                         ("GET", "/2015-03-31/functions/tegridy-tokens"), ("PUT", "/anything")):
        status, headers, body = raw(running.endpoint, method, path)
        assert status in (404, 405), (method, path)
        assert headers["content-type"].startswith("application/json"), (method, path)
        assert headers["x-amzn-errortype"] == "UnknownOperationException"
        assert json.loads(body)["Type"] == "User"


def test_response_limit_is_lambdas_exact_figure(running):
    assert MAX_RESPONSE_BYTES == 6_291_556
    client = lambda_client(running.endpoint)
    # Values whose detokenize answer lands just under, then just over, the limit.
    value = "v" * 60000
    values = [f"{i:04d}{value}" for i in range(110)]
    tokens = []
    for start in range(0, len(values), 50):
        answer = json.loads(client.invoke(FunctionName=running.function_name, Payload=json.dumps(
            {"requests": [{"data": v} for v in values[start:start + 50]]}))["Payload"].read())
        tokens += [r["token"] for r in answer["responses"]]
    under = client.invoke(FunctionName=running.detokenize_function_name, Payload=json.dumps({"tokens": tokens[:100]}))
    assert "FunctionError" not in under and len(under["Payload"].read()) <= MAX_RESPONSE_BYTES
    over = client.invoke(FunctionName=running.detokenize_function_name, Payload=json.dumps({"tokens": tokens}))
    assert over["FunctionError"] == "Unhandled"
    assert json.loads(over["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"
