"""The tamper-evident audit: one line per invocation with its counts, no value or token in it,
`tegridy-tokens audit verify` passing on the real log and naming the line that was edited or
removed, a chain re-written without the audit key and a log cut short both failing it, and
tokenize and detokenize failing closed when the audit cannot be written (nothing stored, nothing
revealed). Also the Lambda handler's audit on stdout (CloudWatch): instance id and sequence."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.audit import AuditLog, load_or_create_key, token_hmac

CANARY = "canary-audit-77d0@example.com"


def audit_verify(path: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "audit", "verify", str(path), *options],
                          capture_output=True, text=True, timeout=60, env=env)


def keyed_log(tmp_path: Path, name: str = "audit.jsonl") -> AuditLog:
    """An audit log with its key where `audit verify` looks by default: PATH.key."""
    path = tmp_path / name
    return AuditLog(path, load_or_create_key(f"{path}.key"))


def vault_entries(vault: Path) -> int:
    with sqlite3.connect(vault) as connection:
        return connection.execute("SELECT count(*) FROM entries").fetchone()[0]


def tokenize_one_by_one(tmp_path: Path, audit: AuditLog, count: int) -> list[str]:
    """`count` tokenize invocations, one audit line each; the log's lines."""
    with local_service(vault=tmp_path / "vault.db", audit=audit) as service:
        client = lambda_client(service.endpoint)
        for i in range(count):
            client.invoke(FunctionName=service.function_name, Payload=json.dumps({"requests": [{"data": f"{CANARY}{i}"}]}))
    return audit.path.read_text().splitlines()


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
    _, path = run_invocations(tmp_path, keyed_log(tmp_path))
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
    run_invocations(tmp_path, keyed_log(tmp_path))
    run_invocations(tmp_path, keyed_log(tmp_path))
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
    # A gap in CloudWatch shows as a missing sequence number within one instance's lines.
    assert lines[0]["instance"] == lines[1]["instance"] and [l["seq"] for l in lines] == [1, 2]
    export = tmp_path / "cloudwatch-export.jsonl"
    export.write_text("\n".join(instance.audit_lines) + "\n")
    key = base64.b64decode(env["TEGRIDY_AUDIT_KEY"])
    (tmp_path / "audit.key").write_text(env["TEGRIDY_AUDIT_KEY"])
    passed = audit_verify(export, "--key-file", str(tmp_path / "audit.key"), "--instances")
    assert passed.returncode == 0, passed.stderr
    export.write_text(instance.audit_lines[1] + "\n")  # the instance's first line lost
    assert audit_verify(export, "--key-file", str(tmp_path / "audit.key"), "--instances").returncode == 1
    assert token_hmac(key, token) == lines[1]["token_hmacs"][0]
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


def rechain(lines: list[str], start: int, link) -> list[str]:
    """The lines with each from `start` (0-based) re-linked to the one before by `link(entry) ->
    str`: what someone who can edit the log but lacks the key can do."""
    out = lines[:start]
    entries = [json.loads(line) for line in lines]
    prev = entries[start - 1]["mac"] if start else "0" * 64
    for entry in entries[start:]:
        entry["prev"] = prev
        entry["mac"] = link({k: v for k, v in entry.items() if k != "mac"})
        prev = entry["mac"]
        out.append(json.dumps(entry, sort_keys=True, separators=(",", ":")))
    return out


def canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def test_a_chain_rewritten_without_the_key_fails_verify(tmp_path):
    lines = tokenize_one_by_one(tmp_path, keyed_log(tmp_path), 6)
    path = tmp_path / "audit.jsonl"
    assert audit_verify(path).returncode == 0
    edited = lines[:2] + [lines[2].replace('"requested":1', '"requested":9')] + lines[3:]
    # Re-chained with a plain SHA-256 (all the old chain needed), then with an HMAC under a guessed key.
    for link in (lambda e: hashlib.sha256(canonical(e)).hexdigest(),
                 lambda e: hmac.new(b"guessed" * 4, canonical(e), hashlib.sha256).hexdigest()):
        path.write_text("\n".join(rechain(edited, 2, link)) + "\n")
        result = audit_verify(path)
        assert result.returncode == 1 and "line 3: changed" in result.stderr, result.stderr
    path.write_text("\n".join(lines) + "\n")
    assert audit_verify(path).returncode == 0


def test_a_log_cut_short_fails_verify(tmp_path):
    lines = tokenize_one_by_one(tmp_path, keyed_log(tmp_path), 8)
    path, head = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.head"
    assert len(lines) == 8 and audit_verify(path).returncode == 0
    for kept in (7, 5, 4):  # the last line, the last three, everything after line 4
        path.write_text("\n".join(lines[:kept]) + "\n")
        result = audit_verify(path)
        assert result.returncode == 1, kept
        assert f"ends at line {kept}" in result.stderr and "8" in result.stderr and "removed" in result.stderr
    path.write_text("")
    assert audit_verify(path).returncode == 1
    # Cutting the log and the head anchor alike: a head is keyed too, and a missing one fails.
    path.write_text("\n".join(lines[:4]) + "\n")
    saved = head.read_text()
    fourth = json.loads(lines[3])
    head.write_text(json.dumps({"seq": 4, "link": fourth["mac"], "mac": hashlib.sha256(fourth["mac"].encode()).hexdigest()}))
    forged = audit_verify(path)
    assert forged.returncode == 1 and "head" in forged.stderr
    head.unlink()
    missing = audit_verify(path)
    assert missing.returncode == 1 and "head" in missing.stderr
    head.write_text(saved)
    path.write_text("\n".join(lines) + "\n")
    assert audit_verify(path).returncode == 0


def test_a_checkpoint_kept_elsewhere_catches_a_head_put_back(tmp_path):
    audit = keyed_log(tmp_path)
    path, head = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.head"
    tokenize_one_by_one(tmp_path, audit, 4)
    old_head = head.read_text()  # what someone who can write the head file kept
    lines = tokenize_one_by_one(tmp_path, audit, 4)
    report = audit_verify(path)
    checkpoint = report.stdout.split("checkpoint ")[1].split()[0]  # what the operator keeps elsewhere
    assert checkpoint.startswith("8:")
    path.write_text("\n".join(lines[:4]) + "\n")
    head.write_text(old_head)
    result = audit_verify(path, "--checkpoint", checkpoint)
    assert result.returncode == 1 and "checkpoint" in result.stderr


def test_verify_needs_the_key_and_refuses_an_unkeyed_log(tmp_path):
    lines = tokenize_one_by_one(tmp_path, keyed_log(tmp_path), 2)
    path, key_file = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.key"
    moved = tmp_path / "elsewhere.key"
    key_file.rename(moved)
    env = {k: v for k, v in os.environ.items() if k != "TEGRIDY_AUDIT_KEY"}
    result = audit_verify(path, env=env)
    assert result.returncode == 2 and "--key-file" in result.stderr and "TEGRIDY_AUDIT_KEY" in result.stderr
    assert audit_verify(path, "--key-file", str(moved), env=env).returncode == 0
    assert audit_verify(path, env=dict(env, TEGRIDY_AUDIT_KEY=moved.read_text().strip())).returncode == 0
    # The wrong key: every line fails from the first.
    (tmp_path / "wrong.key").write_text(base64.b64encode(b"w" * 32).decode())
    wrong = audit_verify(path, "--key-file", str(tmp_path / "wrong.key"), env=env)
    assert wrong.returncode == 1 and "line 1" in wrong.stderr
    # A log written before the chain was keyed (unkeyed SHA-256 links) is refused, never passed.
    legacy = tmp_path / "legacy.jsonl"
    entry = {k: v for k, v in json.loads(lines[0]).items() if k not in ("mac", "prev")}
    entry["prev"] = "0" * 64
    entry["hash"] = hashlib.sha256(canonical(entry)).hexdigest()
    legacy.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    refused = audit_verify(legacy, "--key-file", str(moved), env=env)
    assert refused.returncode == 1 and "unkeyed" in refused.stderr
    # ...and a server does not continue it.
    from tegridy_tokens.service.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unkeyed"):
        AuditLog(legacy, b"k" * 32)


def test_audit_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        audit = keyed_log(tmp_path / "new" / "dir")
        tokenize_one_by_one(tmp_path, audit, 1)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "dir") == 0o700
    for name in ("audit.jsonl", "audit.jsonl.key", "audit.jsonl.head"):
        assert mode(tmp_path / "new" / "dir" / name) == 0o600, name


def test_unwritable_audit_makes_tokenize_fail_and_store_nothing(tmp_path):
    audit = keyed_log(tmp_path)
    vault = tmp_path / "vault.db"
    with local_service(vault=vault, audit=audit) as service:
        client = lambda_client(service.endpoint)
        client.invoke(FunctionName=service.function_name, Payload=json.dumps({"requests": [{"data": CANARY}]}))
        before = vault_entries(vault)
        audit.path.unlink()
        audit.path.mkdir()  # the audit file replaced by a directory: no line can be appended
        for event in ({"requests": [{"data": CANARY + "-new"}]},  # the fast path (plain strings)
                      {"requests": [{"data": CANARY + "-ssn", "format": "default"}, {"data": 5}]}):  # item by item
            response = client.invoke(FunctionName=service.function_name, Payload=json.dumps(event))
            body = response["Payload"].read().decode()
            assert response["FunctionError"] == "Handled" and json.loads(body)["errorType"] == "AuditUnavailable"
            assert CANARY not in body
        assert vault_entries(vault) == before


def test_the_lambda_handler_stores_nothing_when_its_audit_cannot_be_written(tmp_path, monkeypatch):
    from tegridy_tokens.service import handler
    from tegridy_tokens.service.audit import AuditUnavailable
    from tegridy_tokens.service.config import open_engine

    class Closed(io.StringIO):
        def write(self, text):
            raise OSError("stdout closed")

    vault = tmp_path / "vault.db"
    monkeypatch.setattr(handler, "_engine", open_engine(vault))
    monkeypatch.setattr(handler, "_audit", AuditLog(stream=Closed(), key=b"k" * 32))
    monkeypatch.setenv("TEGRIDY_OPERATIONS", "tokenize,detokenize")
    before = vault_entries(vault)
    context = SimpleNamespace(aws_request_id="r-1", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                              function_name="f", get_remaining_time_in_millis=lambda: 30000)
    with pytest.raises(AuditUnavailable):
        handler.lambda_handler({"requests": [{"data": CANARY}]}, context)
    assert vault_entries(vault) == before == 0


def test_a_tokenize_that_fails_after_its_line_gets_a_second_line(tmp_path, monkeypatch):
    from tegridy_tokens.service.config import open_engine
    from tegridy_tokens.service.errors import VaultUnavailable
    from tegridy_tokens.service.invocation import Caller, run_audited

    engine = open_engine(tmp_path / "vault.db")

    def unavailable(entries, deadline):
        raise VaultUnavailable("the vault did not answer in time; retry the batch")

    monkeypatch.setattr(engine.vault, "put_many", unavailable)
    audit = keyed_log(tmp_path)
    caller = Caller("r-2", "tegridy-tokens", {"name": "local-dev"}, frozenset({"tokenize"}))
    with pytest.raises(VaultUnavailable):
        run_audited(lambda: engine, {"requests": [{"data": CANARY}]}, None, audit, caller)
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [(l["request_id"], l["outcome"], l["answered"]) for l in lines] == [("r-2", "ok", 1),
                                                                              ("r-2", "VaultUnavailable", 0)]
    assert audit_verify(audit.path).returncode == 0
