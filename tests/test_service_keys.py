"""Keys on the embedded vault: made only by `keys init` (or a brand-new local vault), refused when
missing, loose or foreign, split by TEGRIDY_OPERATIONS; and the SQLite files stay private."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from aws_local import HandlerProcess
from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.config import Settings, build_engine
from tegridy_tokens.service.errors import KeyringError, KeysNotReady

CANARY = "canary-b7c2-sqlite-vault@example.com"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", *args], capture_output=True, text=True)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_handler_without_keys_creates_nothing(tmp_path):
    instance = HandlerProcess({"TEGRIDY_VAULT": f"sqlite://{tmp_path}/vault/vault.db", "TEGRIDY_OPERATIONS": "both"}, tmp_path)
    try:
        answers = [instance.invoke({"requests": [{"data": CANARY}]}) for _ in range(2)]
    finally:
        instance.close()
    for answer in answers:
        assert "tegridy-tokens keys init" in answer["errorMessage"] and CANARY not in answer["errorMessage"]
    assert not (tmp_path / "vault").exists()

    # An existing vault whose keyring record is absent: KeysNotReady, and still no keys made.
    (tmp_path / "vault").mkdir()
    from tegridy_tokens.service.sqlite_vault import SqliteVault

    SqliteVault(tmp_path / "vault" / "vault.db").close()
    with pytest.raises(KeysNotReady, match="keys init"):
        build_engine(Settings(f"sqlite://{tmp_path}/vault/vault.db", frozenset({"tokenize"}), str(tmp_path / "k.json")))
    assert not (tmp_path / "k.json").exists()


def test_keys_are_made_once_and_never_replaced(tmp_path):
    url, keyring = f"sqlite://{tmp_path}/vault.db", tmp_path / "keyring.json"
    assert cli("keys", "init", "--vault", url, "--keyring", str(keyring)).returncode == 0
    first = keyring.read_bytes()
    again = cli("keys", "init", "--vault", url, "--keyring", str(tmp_path / "second.json"))
    assert again.returncode == 1 and "already has keys" in again.stderr
    assert keyring.read_bytes() == first and not (tmp_path / "second.json").exists()
    status = json.loads(cli("keys", "status", "--vault", url, "--keyring", str(keyring)).stdout)
    assert status["initialised"] and status["keyring_file_matches"] and status["storage"] == "file"
    assert "token_key" not in json.dumps(status) and json.loads(first)["token_key"] not in json.dumps(status)


def test_loose_keyring_file_is_refused(tmp_path):
    url, keyring = f"sqlite://{tmp_path}/vault.db", tmp_path / "keyring.json"
    assert cli("keys", "init", "--vault", url, "--keyring", str(keyring)).returncode == 0
    assert mode(keyring) == 0o600
    os.chmod(keyring, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        build_engine(Settings(url, frozenset({"tokenize"}), str(keyring)))


def test_sqlite_files_are_private_and_hold_no_plaintext(tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        client = lambda_client(service.endpoint)
        response = client.invoke(FunctionName=service.function_name, Payload=json.dumps({"requests": [{"data": CANARY}]}))
        token = json.loads(response["Payload"].read())["responses"][0]["token"]
        files = sorted(path.name for path in tmp_path.iterdir())
        assert {"vault.db", "vault.db-wal", "vault.db-shm", "keyring.json"} <= set(files)
        for name in files:
            assert mode(tmp_path / name) == 0o600, name
            assert CANARY.encode() not in (tmp_path / name).read_bytes(), name
        assert token.encode() in (tmp_path / "vault.db").read_bytes() + (tmp_path / "vault.db-wal").read_bytes()


def test_local_tokenize_only_service_denies_detokenize(tmp_path):
    with local_service(vault=tmp_path / "vault.db", operations=frozenset({"tokenize"})) as service:
        client = lambda_client(service.endpoint)
        response = client.invoke(FunctionName=service.function_name, Payload=json.dumps({"tokens": ["tgr_x"]}))
        body = json.loads(response["Payload"].read())
        assert response["FunctionError"] == "Handled"
        assert body["errorType"] == "AccessDenied" and "TEGRIDY_OPERATIONS" in body["errorMessage"]
        assert not service.app.engine.keyring.can_detokenize and service.app.engine.keyring.opening_keys == {}


def test_serve_refuses_a_vault_without_its_keys(tmp_path):
    # Not brand new (the keyring record exists) but the keyring file is gone: no silent new keys.
    url = f"sqlite://{tmp_path}/vault.db"
    assert cli("keys", "init", "--vault", url, "--keyring", str(tmp_path / "elsewhere.json")).returncode == 0
    served = cli("serve", "--vault", str(tmp_path / "vault.db"), "--port", "0")
    assert served.returncode == 1 and "keyring" in served.stderr
    assert not (tmp_path / "keyring.json").exists()


def test_a_keyring_from_before_keys_init_is_named(tmp_path):
    (tmp_path / "keyring.json").write_text(json.dumps({"version": 1, "hmac_key": "AA==", "aes_key": "AA=="}))
    os.chmod(tmp_path / "keyring.json", 0o600)
    with pytest.raises(KeyringError, match="format 1"):
        with local_service(vault=tmp_path / "vault.db"):
            pass
    assert json.loads((tmp_path / "keyring.json").read_text())["version"] == 1  # left as it was


def test_serve_never_makes_keys_over_a_vault_that_holds_entries(tmp_path):
    import sqlite3

    with local_service(vault=tmp_path / "vault.db") as service:
        client = lambda_client(service.endpoint)
        values = [CANARY, "b@example.com", "c@example.com"]
        client.invoke(FunctionName=service.function_name, Payload=json.dumps({"requests": [{"data": v} for v in values]}))
        keyring_id = service.app.engine.keyring.keyring_id
    with sqlite3.connect(tmp_path / "vault.db") as connection:  # the accident: the record and the file gone
        connection.execute("DELETE FROM meta")
    (tmp_path / "keyring.json").unlink()
    with pytest.raises(KeyringError) as refused:
        with local_service(vault=tmp_path / "vault.db"):
            pass
    message = str(refused.value)
    assert "holds 3 entries but no keyring record" in message and keyring_id in message and "backup" in message
    assert CANARY not in message
    assert not (tmp_path / "keyring.json").exists()
    with sqlite3.connect(tmp_path / "vault.db") as connection:
        assert connection.execute("SELECT count(*) FROM meta").fetchone() == (0,)
    # `tegridy-tokens serve` as users run it, and `keys init`, refuse the same way (the timeout only
    # stops a server that would otherwise start serving with new keys).
    served = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "serve", "--vault", str(tmp_path / "vault.db"),
                             "--port", "0"], capture_output=True, text=True, timeout=120)
    assert served.returncode == 1 and "holds 3 entries but no keyring record" in served.stderr
    made = cli("keys", "init", "--vault", str(tmp_path / "vault.db"), "--keyring", str(tmp_path / "keyring.json"))
    assert made.returncode == 1 and "holds 3 entries but no keyring record" in made.stderr
    assert not (tmp_path / "keyring.json").exists()


def test_an_entry_that_does_not_open_is_an_error_not_not_found(tmp_path):
    # An entry written before entries named their keyring (format 1), under a sealing key version
    # this keyring lacks: it is there, so the answer is an error, never "not found".
    from tegridy_tokens.service.sealing import new_private_key, public_key_of, seal_many
    from tegridy_tokens.service.sqlite_vault import SqliteVault

    with local_service(vault=tmp_path / "vault.db") as service:
        engine = service.app.engine
        token = engine.token_for(CANARY)
        SqliteVault(tmp_path / "vault.db").put_many(seal_many(7, public_key_of(new_private_key()), {token: CANARY}))
        with pytest.raises(KeyringError) as refused:
            engine.detokenize([token, "tgr_absent"])
    assert type(refused.value).__name__ == "UnknownKeyring"
    assert "1 of 2 tokens" in str(refused.value) and token not in str(refused.value) and CANARY not in str(refused.value)


def test_tokenize_names_another_keyrings_entry_under_its_token(tmp_path):
    import uuid

    from tegridy_tokens.service.handler import handle_event
    from tegridy_tokens.service.sealing import new_private_key, public_key_of, seal_many
    from tegridy_tokens.service.sqlite_vault import SqliteVault

    with local_service(vault=tmp_path / "vault.db") as service:
        engine = service.app.engine
        token = engine.token_for(CANARY)
        planted = seal_many(1, public_key_of(new_private_key()), {token: "another"}, str(uuid.uuid4()))
        SqliteVault(tmp_path / "vault.db").put_many(planted)
        answer = handle_event(engine, {"requests": [{"data": CANARY}, {"data": "b@example.com"}]})["responses"]
    assert answer[0] == {"success": False, "error": answer[0]["error"], "retryable": False}
    assert "another keyring" in answer[0]["error"] and CANARY not in answer[0]["error"]
    assert answer[1]["success"]


def test_keys_init_over_entries_from_before_keyring_ids_names_them(tmp_path):
    from tegridy_tokens.service.keys import init_keys
    from tegridy_tokens.service.sealing import new_private_key, public_key_of, seal_many
    from tegridy_tokens.service.sqlite_vault import SqliteVault

    vault = SqliteVault(tmp_path / "vault.db")
    vault.put_many(seal_many(1, public_key_of(new_private_key()), {"tgr_a": "a", "tgr_b": "b"}))  # format 1
    with pytest.raises(KeyringError, match="holds 2 entries but no keyring record.*2 entries from before entries "
                                           "named their keyring"):
        init_keys(vault, keyring_path=tmp_path / "keyring.json")
    assert not (tmp_path / "keyring.json").exists() and vault.get_meta("keyring") is None
