"""Bad input is refused before any work: JSON nested too deep (400), items that are not strings
(a per-item error, never a crash), an invocation with more items than its answer could hold
(refused before the vault is read or written), an unknown InvocationType (400), and, under
--principals, 6 MB bodies from callers who did not sign (answered without being read)."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tegridy_tokens.service import local_service
from tegridy_tokens.service.handler import MAX_ITEMS

INVOKE = "/2015-03-31/functions/{}/invocations"


def post(endpoint: str, function: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(endpoint.split("//")[1], timeout=120)
    connection.request("POST", INVOKE.format(function), body=body, headers=headers or {})
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


def vault_entries(vault: Path) -> int:
    with sqlite3.connect(vault) as connection:
        return connection.execute("SELECT count(*) FROM entries").fetchone()[0]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    received: list = []
    vault = tmp_path_factory.mktemp("bad-input") / "vault.db"
    with local_service(vault=vault, on_event=received.append) as service:
        service.received, service.vault = received, vault
        yield service


def test_json_nested_beyond_the_limit_is_a_400_with_lambdas_body(running):
    for depth in (100_000, 1025):
        status, headers, body = post(running.endpoint, "tegridy-tokens", b"[" * depth + b"]" * depth)
        assert status == 400 and headers["content-type"].startswith("application/json"), depth
        assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
        assert "1024 levels" in json.loads(body)["message"]
    # The same through the standard library's parser (a lone surrogate sends it there).
    deep = b'{"requests": [{"data": "\\ud800"}], "x": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    status, headers, _ = post(running.endpoint, "tegridy-tokens", deep)
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
    # Within the limit, an event is served.
    within = b'{"requests": [{"data": "nested-ok"}], "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    status, headers, body = post(running.endpoint, "tegridy-tokens", within)
    assert status == 200 and "x-amz-function-error" not in headers and json.loads(body)["responses"][0]["success"]


def test_items_that_are_not_strings_get_a_per_item_error(running):
    status, headers, body = post(running.endpoint, "tegridy-tokens-detokenize", json.dumps({"tokens": [{"a": 1}]}).encode())
    assert status == 200 and "x-amz-function-error" not in headers
    answer = json.loads(body)
    assert answer["tokens"] == {} and answer["errors"] == [{"index": 0, "error": "tokens[0] must be a string, got dict"}]

    _, _, body = post(running.endpoint, "tegridy-tokens", json.dumps({"requests": [{"data": "bad-item-ok"}]}).encode())
    token = json.loads(body)["responses"][0]["token"]
    status, headers, body = post(running.endpoint, "tegridy-tokens-detokenize",
                                 json.dumps({"tokens": [token, [1], 7, None]}).encode())
    answer = json.loads(body)
    assert "x-amz-function-error" not in headers and answer["tokens"] == {token: "bad-item-ok"}
    assert [e["index"] for e in answer["errors"]] == [1, 2, 3]
    status, headers, body = post(running.endpoint, "tegridy-tokens-detokenize",
                                 json.dumps({"tokens": [token, {"a": 1}], "formats": [None, {"f": 1}]}).encode())
    answer = json.loads(body)
    assert "x-amz-function-error" not in headers and answer["values"] == ["bad-item-ok", None]
    assert [e["index"] for e in answer["errors"]] == [1, 1]

    status, headers, body = post(running.endpoint, "tegridy-tokens", json.dumps(
        {"requests": [{"data": {"a": 1}}, {"data": "bad-item-2"}, {"data": "x", "format": {"f": 1}}, 5]}).encode())
    responses = json.loads(body)["responses"]
    assert "x-amz-function-error" not in headers
    assert [r["success"] for r in responses] == [False, True, False, False]
    assert responses[0]["error"] == "data must be a string, got dict"
    assert responses[2]["error"] == "format must be a string, got dict"


def test_the_lambda_handler_answers_non_string_items_item_by_item(tmp_path, monkeypatch):
    from tegridy_tokens.service import handler
    from tegridy_tokens.service.audit import AuditLog
    from tegridy_tokens.service.config import open_engine

    monkeypatch.setattr(handler, "_engine", open_engine(tmp_path / "vault.db"))
    monkeypatch.setattr(handler, "_audit", AuditLog(stream=open(os.devnull, "w"), key=b"k" * 32))
    monkeypatch.setenv("TEGRIDY_OPERATIONS", "tokenize,detokenize")
    context = SimpleNamespace(aws_request_id="r", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                              function_name="f", get_remaining_time_in_millis=lambda: 30000)
    answer = handler.lambda_handler({"tokens": [{"a": 1}]}, context)
    assert answer == {"tokens": {}, "errors": [{"index": 0, "error": "tokens[0] must be a string, got dict"}]}


@pytest.mark.parametrize("function, event, what", [
    ("tegridy-tokens", lambda n: {"requests": [{"data": f"over-{i}"} for i in range(n)]}, "tokenize"),
    ("tegridy-tokens-detokenize", lambda n: {"tokens": [f"tgr_over-{i}" for i in range(n)]}, "detokenize"),
])
def test_an_invocation_over_the_item_limit_is_refused_before_the_vault(running, function, event, what):
    vault = running.app.engine.vault
    calls, entries = vault.operations, vault_entries(running.vault)
    status, headers, body = post(running.endpoint, function, json.dumps(event(MAX_ITEMS[what] + 1)).encode())
    answer = json.loads(body)
    assert status == 200 and headers["x-amz-function-error"] == "Unhandled" and answer["errorType"] == "InvalidRequest"
    assert f"over the limit of {MAX_ITEMS[what]}" in answer["errorMessage"]
    assert vault.operations == calls and vault_entries(running.vault) == entries  # not read, not written


def test_a_redshift_batch_over_the_item_limit_is_refused_before_the_vault(running):
    vault = running.app.engine.vault
    calls, entries = vault.operations, vault_entries(running.vault)
    rows = MAX_ITEMS["redshift"] + 1
    event = {"request_id": "r", "cluster": "c", "user": "u", "database": "d", "external_function": "f",
             "query_id": 1, "num_records": rows, "arguments": [[f"over-{i}"] for i in range(rows)]}
    status, headers, body = post(running.endpoint, "tegridy-tokens", json.dumps(event).encode())
    answer = json.loads(body)
    assert status == 200 and answer["success"] is False and f"over the limit of {MAX_ITEMS['redshift']}" in answer["error_msg"]
    assert vault.operations == calls and vault_entries(running.vault) == entries


def test_the_item_limits_follow_from_lambdas_response_bound():
    # 6,291,556 bytes over the smallest answer an item can get, a 47-character token and an empty value.
    assert MAX_ITEMS == {"tokenize": 6_291_556 // 85, "detokenize": 6_291_556 // 53, "redshift": 6_291_556 // 50}


def test_an_unknown_invocation_type_is_a_400_and_does_nothing(running):
    events_before, entries = len(running.received), vault_entries(running.vault)
    body = json.dumps({"requests": [{"data": "bogus-invocation"}]}).encode()
    for bogus in ("Bogus", "requestresponse", ""):
        status, headers, answer = post(running.endpoint, "tegridy-tokens", body, {"X-Amz-Invocation-Type": bogus})
        assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterValueException"), bogus
        assert "invocationType" in json.loads(answer)["message"] and b"tgr_" not in answer
    assert len(running.received) == events_before and vault_entries(running.vault) == entries
    assert post(running.endpoint, "tegridy-tokens", body, {"X-Amz-Invocation-Type": "DryRun"})[0] == 204
    assert post(running.endpoint, "tegridy-tokens", body, {"X-Amz-Invocation-Type": "RequestResponse"})[0] == 200


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB: the high-water mark, however brief."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def test_unsigned_bodies_are_not_read_before_the_headers_authenticate(tmp_path):
    import subprocess

    from test_authority_service import principals_file
    from tegridy_tokens.service.local import serve_in_subprocess

    process, endpoint = serve_in_subprocess("--vault", str(tmp_path / "vault.db"), "--workers", "1",
                                            "--principals", str(principals_file(tmp_path)),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        blob = b"x" * (6 * 1024 * 1024 - 1024)
        post(endpoint, "tegridy-tokens", b"{}")  # warm: the first request's imports are not the bodies' cost
        before = peak_rss_mb(process.pid)
        statuses: list = []

        def send() -> None:
            try:
                statuses.append(post(endpoint, "tegridy-tokens", blob, {"Content-Type": "application/json"})[0])
            except OSError as error:  # the server may close the connection rather than drain the body
                statuses.append(type(error).__name__)

        threads = [threading.Thread(target=send) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        after = peak_rss_mb(process.pid)
        print(f"server peak RSS under 40 unsigned 6 MB POSTs: {before:.0f} MB -> {after:.0f} MB (+{after - before:.0f} MB)")
        assert len(statuses) == 40 and 403 in statuses and set(statuses) <= {403, "ConnectionResetError", "BrokenPipeError"}
        assert after - before < 50
    finally:
        process.terminate()
        process.wait(30)
