"""The tamper-evident audit: one line per invocation with its counts, no value or token in it,
`tegridy-tokens audit verify` passing on the real log and naming the line that was edited or
removed, and detokenize failing closed when the audit cannot be written. Also the Lambda
handler's audit on stdout (CloudWatch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.audit import AuditLog, load_or_create_key, token_hmac

CANARY = "canary-audit-77d0@example.com"


def audit_verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "audit", "verify", str(path)],
                          capture_output=True, text=True, timeout=60)


def run_invocations(tmp_path: Path, audit: AuditLog) -> tuple[list[str], Path]:
    values = [f"{CANARY}-{i}" for i in range(3)]
    with local_service(vault=tmp_path / "vault.db", audit=audit) as service:
        client = lambda_client(service.endpoint)
        answer = json.loads(client.invoke(FunctionName=service.function_name, Payload=json.dumps(
            {"requests": [{"data": v} for v in values] + [{"data": 7}]}))["Payload"].read())
        tokens = [r["token"] for r in answer["responses"] if r["success"]]
        client.invoke(FunctionName=service.detokenize_function_name,
                      Payload=json.dumps({"tokens": tokens + ["tgr_unknown"], "role": "support"}))
        client.invoke(FunctionName=service.function_name, Payload=json.dumps({"tokens": tokens[:1]}))  # denied
    return tokens, audit.path


def test_one_line_per_invocation_with_counts_and_no_value(tmp_path):
    key = load_or_create_key(tmp_path / "audit.key")
    tokens, path = run_invocations(tmp_path, AuditLog(tmp_path / "audit.jsonl", key))
    text = path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    tokenize, detokenize, denied = lines
    assert (tokenize["function"], tokenize["operation"], tokenize["requested"], tokenize["answered"],
            tokenize["failed"]) == ("tegridy-tokens", "tokenize", 4, 3, 1)
    assert (detokenize["function"], detokenize["operation"], detokenize["requested"], detokenize["answered"],
            detokenize["failed"]) == ("tegridy-tokens-detokenize", "detokenize", 4, 3, 1)
    assert detokenize["role"] == {"claimed": "support"}
    assert detokenize["principal"]["name"] == "local-dev"
    # A token can be checked against the log without the log listing it.
    assert detokenize["token_hmacs"][:3] == [token_hmac(key, t) for t in tokens]
    assert denied["outcome"] == "AccessDenied" and denied["answered"] == 0
    assert all(line["request_id"] and line["time"] for line in lines)
    assert CANARY not in text and not any(t in text for t in tokens) and "tgr_unknown" not in text


def test_verify_passes_then_names_an_edited_and_a_removed_line(tmp_path):
    _, path = run_invocations(tmp_path, AuditLog(tmp_path / "audit.jsonl", b"k" * 32))
    passed = audit_verify(path)
    assert passed.returncode == 0 and "3 line(s), chain intact" in passed.stdout
    original = path.read_text().splitlines()

    edited = [line.replace('"requested":4', '"requested":1', 1) if i == 1 else line for i, line in enumerate(original)]
    path.write_text("\n".join(edited) + "\n")
    result = audit_verify(path)
    assert result.returncode == 1 and "line 2: changed" in result.stderr

    path.write_text("\n".join(original[:1] + original[2:]) + "\n")
    result = audit_verify(path)
    assert result.returncode == 1 and "line 2:" in result.stderr and "removed" in result.stderr

    path.write_text("\n".join(original) + "\n")
    assert audit_verify(path).returncode == 0


def test_the_chain_continues_across_restarts(tmp_path):
    path = tmp_path / "audit.jsonl"
    run_invocations(tmp_path, AuditLog(path, b"k" * 32))
    run_invocations(tmp_path, AuditLog(path, b"k" * 32))
    assert len(path.read_text().splitlines()) == 6
    assert audit_verify(path).returncode == 0


def test_unwritable_audit_makes_detokenize_fail_and_reveal_nothing(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl", b"k" * 32)
    with local_service(vault=tmp_path / "vault.db", audit=audit) as service:
        client = lambda_client(service.endpoint)
        token = json.loads(client.invoke(FunctionName=service.function_name, Payload=json.dumps(
            {"requests": [{"data": CANARY}]}))["Payload"].read())["responses"][0]["token"]
        audit.path = tmp_path / "no-such-directory" / "audit.jsonl"  # the audit destination is gone
        response = client.invoke(FunctionName=service.detokenize_function_name, Payload=json.dumps({"tokens": [token]}))
        body = response["Payload"].read().decode()
        assert response["FunctionError"] == "Handled"
        assert json.loads(body)["errorType"] == "AuditUnavailable"
        assert CANARY not in body and token not in body


def test_lambda_handler_prints_its_audit_line_to_stdout(tmp_path, monkeypatch):
    from aws_local import HandlerProcess

    from tegridy_tokens.service.keys import init_keys
    from tegridy_tokens.service.vault import open_vault

    init_keys(open_vault(f"sqlite:///{tmp_path / 'vault.db'}", create=True), keyring_path=tmp_path / "keyring.json")
    env = {"TEGRIDY_VAULT": f"sqlite:///{tmp_path / 'vault.db'}", "TEGRIDY_KEYRING": str(tmp_path / "keyring.json"),
           "TEGRIDY_OPERATIONS": "tokenize,detokenize", "TEGRIDY_AUDIT_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"}
    instance = HandlerProcess(env, tmp_path)
    try:
        token = instance.invoke({"requests": [{"data": CANARY}]})["result"]["responses"][0]["token"]
        assert instance.invoke({"tokens": [token]})["result"] == {"tokens": {token: CANARY}}
    finally:
        output = instance.close()
    lines = [json.loads(line) for line in instance.audit_lines]
    assert [(l["operation"], l["requested"], l["answered"]) for l in lines] == [("tokenize", 1, 1), ("detokenize", 1, 1)]
    assert lines[1]["prev"] != lines[0]["prev"] and len(lines[1]["token_hmacs"]) == 1
    assert CANARY not in "\n".join(instance.audit_lines) + output and token not in "\n".join(instance.audit_lines)
    assert os.path.exists(tmp_path / "vault.db")


def test_refused_requests_are_audited_under_who_was_refused(tmp_path):
    import http.client

    from test_authority_service import ETL, client_for, principals_file
    from tegridy_tokens.service.auth import Principals

    audit = AuditLog(tmp_path / "audit.jsonl", b"k" * 32)
    with local_service(vault=tmp_path / "vault.db", audit=audit,
                       principals=Principals.load(principals_file(tmp_path))) as service:
        connection = http.client.HTTPConnection(service.endpoint.split("//")[1], timeout=30)
        connection.request("POST", "/2015-03-31/functions/tegridy-tokens-detokenize/invocations",
                           body=json.dumps({"tokens": [CANARY]}))
        assert connection.getresponse().status == 403
        connection.close()
        try:
            client_for(service.endpoint, ETL).invoke(FunctionName="tegridy-tokens-detokenize",
                                                     Payload=json.dumps({"tokens": [CANARY]}))
        except Exception as error:  # AccessDeniedException
            assert "AccessDenied" in str(error)
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [(l["principal"]["name"], l["outcome"]) for l in lines] == [
        ("unauthenticated", "MissingAuthenticationTokenException"), ("etl", "AccessDeniedException")]
    assert CANARY not in audit.path.read_text()
