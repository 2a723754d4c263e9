"""Erasure: tombstones in place of sealed entries, `erased` on detokenize, no value stored again,
the CLI and the Python API, --dry-run, the audit line, a value never on argv or in any log, and
100,000 tokens erased from a file on SQLite and on DynamoDB Local."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, lambda_client, scan_table

from tegridy_tokens.service import erase, local_service
from tegridy_tokens.service.audit import AuditLog, verify
from tegridy_tokens.service.config import open_engine
from tegridy_tokens.service.handler import handle_event
from tegridy_tokens.service.retry import Deadline
from tegridy_tokens.service.sealing import seal_many
from tegridy_tokens.service.tombstones import is_tombstone, read_tombstone
from tegridy_tokens.service.vault import open_vault

CANARY = "erase-canary-7c2f@example.com"
AUDIT_KEY = b"erasure-audit-key-0123456789abcdef"


def cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "erase", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=300)


def test_erase_then_detokenize_says_erased_and_tokenize_keeps_the_token_without_storing(tmp_path):
    vault = tmp_path / "vault.db"
    with local_service(vault=vault) as service:
        client = lambda_client(service.endpoint)

        def call(function, event):
            return json.loads(client.invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read())

        tokenized = call(service.function_name, {"requests": [{"data": CANARY}, {"data": "kept@example.com"}],
                                                 "scope": "crm"})
        gone, kept = (r["token"] for r in tokenized["responses"])
        ssn = call(service.function_name, {"requests": [{"data": "123-45-6789", "format": "ssn"}], "scope": "crm"})
        ssn_token = ssn["responses"][0]["token"]

        report = erase(f"sqlite://{vault}", tokens=[gone], reason="TICKET-1")
        assert report.erased == [gone] and report.by.startswith("os-user:")
        report = erase(f"sqlite://{vault}", tokens=[ssn_token], scope="crm", format="ssn", reason="TICKET-1")
        assert report.erased == [ssn_token]

        # Erased is told apart from unknown, and the reply keeps its shape for tokens that are neither.
        answer = call(service.detokenize_function_name, {"tokens": [gone, kept, "tgr_crm.unknown"]})
        assert answer == {"tokens": {kept: "kept@example.com"}, "erased": [gone]}
        assert call(service.detokenize_function_name, {"tokens": [kept]}) == {"tokens": {kept: "kept@example.com"}}
        answer = call(service.detokenize_function_name, {"tokens": [ssn_token, ssn_token], "formats": ["ssn", "email"],
                                                         "scope": "crm"})
        assert answer == {"values": [None, None], "erased": [0]}

        # Tokenize again: the same token (joins keep working), a success, and the value is not stored again.
        again = call(service.function_name, {"requests": [{"data": CANARY}], "scope": "crm"})
        assert again == {"responses": [{"success": True, "token": gone, "data": CANARY}]}
        again = call(service.function_name, {"requests": [{"data": "123-45-6789", "format": "ssn"}], "scope": "crm"})
        assert again["responses"][0]["token"] == ssn_token
        found, _ = open_vault(f"sqlite://{vault}").get_many([gone, f"fmt:ssn@crm:{ssn_token}"], None)
        assert all(is_tombstone(entry) for entry in found.values()) and len(found) == 2
        assert read_tombstone(found[gone])["reason"] == "TICKET-1"
        assert CANARY.encode() not in found[gone]
        assert call(service.detokenize_function_name, {"tokens": [gone]}) == {"tokens": {}, "erased": [gone]}


def test_the_cli_by_value_from_stdin_dry_run_then_erase_audited_and_the_value_never_shown(tmp_path):
    vault = tmp_path / "vault.db"
    engine = open_engine(vault)
    token = engine.tokenize_plain([CANARY], scope="crm")[0]
    other = engine.tokenize_plain(["other@example.com"])[0]
    audit = tmp_path / "erase-audit.log"
    args = ["--vault", str(vault), "--value-file", "-", "--scope", "crm", "--reason", "DSR-42",
            "--keyring", str(tmp_path / "keyring.json"), "--audit", str(audit)]

    dry = cli(*args, "--dry-run", stdin=CANARY + "\nnever-tokenized@example.com\n")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["present"] == [token] and len(report["unknown"]) == 1 and report["already_erased"] == []
    assert report["summary"]["dry_run"] is True
    assert not is_tombstone(open_vault(str(vault)).get_many([token], None)[0][token])  # a dry run changes nothing

    run = cli(*args, stdin=CANARY + "\n")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["summary"]["erased"] == 1
    again = cli("--vault", str(vault), "--tokens-file", "-", "--dry-run", stdin=f"{token}\n{other}\ntgr_nothing\n")
    report = json.loads(again.stdout)
    assert (report["present"], report["already_erased"], report["unknown"]) == ([other], [token], ["tgr_nothing"])

    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(line["operation"], line["outcome"], line["answered"]) for line in lines] == [
        ("erase", "dry run", 0), ("erase", "ok", 1)]
    assert all(line["reason"] == "DSR-42" and line["scopes"] == ["crm"] and line["principal"]["name"].startswith("os-user:")
               for line in lines)
    assert lines[1]["present"] == 1 and lines[0]["unknown"] == 1 and lines[1]["erased_keys_hmac"]
    ok, _report = verify(audit, base64.b64decode(Path(f"{audit}.key").read_text()))
    assert ok
    # The value was on stdin only: not on the command line, and in no output, audit line or tombstone.
    for text in (dry.stdout, dry.stderr, run.stdout, run.stderr, audit.read_text(), " ".join(args)):
        assert CANARY not in text and "never-tokenized" not in text
    assert CANARY.encode() not in open_vault(str(vault)).get_many([token], None)[0][token]


def test_bad_input_is_refused_before_anything_is_erased(tmp_path):
    vault = tmp_path / "vault.db"
    engine = open_engine(vault)
    token = engine.tokenize_plain([CANARY])[0]
    result = cli("--vault", str(vault), "--tokens-file", "-", stdin=f"{token}\n{CANARY}\n")
    assert result.returncode == 1 and "token 2 is not a default-format token" in result.stderr
    assert CANARY not in result.stderr
    assert not is_tombstone(open_vault(str(vault)).get_many([token], None)[0][token])
    result = cli("--vault", str(vault), "--value-file", "-", stdin=CANARY + "\n")
    assert result.returncode == 1 and "--value-file needs --scope" in result.stderr
    result = cli("--vault", str(vault), "--token", token, "--scope", "Bad")
    assert result.returncode == 1 and "scope name" in result.stderr


def test_the_audit_line_comes_first_and_nothing_is_erased_without_it(tmp_path):
    vault = tmp_path / "vault.db"
    token = open_engine(vault).tokenize_plain([CANARY])[0]
    audit = AuditLog(tmp_path / "audit.log", AUDIT_KEY)
    (tmp_path / "audit.log").mkdir()  # the line cannot be written (a directory where the file goes)
    try:
        erase(str(vault), tokens=[token], audit=audit)
    except Exception as error:
        assert type(error).__name__ == "AuditUnavailable"
    else:
        raise AssertionError("erase ran without its audit line")
    assert not is_tombstone(open_vault(str(vault)).get_many([token], None)[0][token])


def erase_file_of_100k(vault_url: str, engine, tmp_path: Path, env: dict | None = None) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from erasure import fill  # the benchmark's own filler: sealed entries written in the vault's batches

    tokens = fill(vault_url, engine, 100_000)
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    result = cli("--vault", vault_url, "--tokens-file", str(tokens_file), "--reason", "BULK-1", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"] | {"by": None} == {
        "dry_run": False, "by": None, "reason": "BULK-1", "present": 100_000, "erased": 100_000, "already_erased": 0,
        "unknown": 0, "failed": 0, "refused_values": 0}
    sample = tokens[::997]
    answer = handle_event(engine, {"tokens": sample})
    assert answer == {"tokens": {}, "erased": sorted(sample)}
    found, _ = open_vault(vault_url).get_many(tokens, None) if vault_url.startswith("sqlite") else (None, None)
    if found is not None:
        assert len(found) == 100_000 and all(is_tombstone(e) for e in found.values())


def test_erase_100k_tokens_from_a_file_on_sqlite(tmp_path):
    vault = tmp_path / "vault.db"
    erase_file_of_100k(f"sqlite://{vault}", open_engine(vault), tmp_path)


def test_erase_100k_tokens_from_a_file_on_dynamodb_local(tmp_path, vault_table, aws_env):
    import os

    from tegridy_tokens.service.config import build_engine, Settings
    from tegridy_tokens.service.dynamodb_vault import DynamoDbVault
    from tegridy_tokens.service.keys import init_keys

    url = f"dynamodb://{vault_table}"
    init_keys(DynamoDbVault(vault_table), keyring_path=tmp_path / "keyring.json")
    engine = build_engine(Settings(url, frozenset({"tokenize", "detokenize"}), str(tmp_path / "keyring.json")))
    # STS is not served locally: the OS user stands in, marked as such.
    erase_file_of_100k(url, engine, tmp_path, env=dict(os.environ, AWS_ENDPOINT_URL_STS="http://127.0.0.1:9"))


def test_keys_init_over_a_vault_of_tombstones_names_them_as_erased(tmp_path):
    import pytest

    from tegridy_tokens.service.errors import KeyringError
    from tegridy_tokens.service.keys import init_keys
    from tegridy_tokens.service.sqlite_vault import SqliteVault
    from tegridy_tokens.service.tombstones import make_tombstone

    vault = SqliteVault(tmp_path / "vault.db")
    vault.put_many({"tgr_a": make_tombstone("T-1", "os-user:x"), "tgr_b": make_tombstone("T-1", "os-user:x")})
    with pytest.raises(KeyringError, match="holds 2 entries but no keyring record.*2 erased entries") as refused:
        init_keys(vault, keyring_path=tmp_path / "keyring.json")
    assert "from before entries named their keyring" not in str(refused.value)


def test_on_dynamodb_a_tombstone_stands_against_tokenize_and_its_conditional_write(tmp_path, vault_table, aws_env):
    from tegridy_tokens.service.config import Settings, build_engine
    from tegridy_tokens.service.dynamodb_vault import DynamoDbVault
    from tegridy_tokens.service.keys import init_keys

    url = f"dynamodb://{vault_table}"
    init_keys(DynamoDbVault(vault_table), keyring_path=tmp_path / "keyring.json")
    engine = build_engine(Settings(url, frozenset({"tokenize", "detokenize"}), str(tmp_path / "keyring.json")))
    token = engine.tokenize_plain([CANARY], scope="crm")[0]
    report = erase(url, tokens=[token], reason="DSR-DDB", by="test")
    assert report.erased == [token]
    assert engine.tokenize_plain([CANARY], scope="crm") == [token]  # an answer, not an error
    assert handle_event(engine, {"tokens": [token]}) == {"tokens": {}, "erased": [token]}
    # A tokenize that raced the erasure (it read no entry, then wrote): the conditional PutItem finds
    # the tombstone, counts it as stored, and leaves it.
    keyring = engine.keyring
    sealed = seal_many(keyring.sealing_version, keyring.sealing_public_key, {token: CANARY}, keyring.keyring_id)
    assert DynamoDbVault(vault_table).put_many(sealed, Deadline(10)) == set()
    [item] = [i for i in scan_table(vault_table) if i["t"]["S"] == token]
    assert is_tombstone(bytes(item["s"]["B"])) and CANARY.encode() not in bytes(item["s"]["B"])
