"""Token scopes in the service: unlinkable tokens per scope (HKDF of the token key), the default
scope's tokens unchanged, the scope on the wire, and detokenize authority per scope (principals
file, TEGRIDY_SCOPES), refused as AccessDenied before the vault is read, named in the audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from test_authority_service import ANALYST, ETL, client_for
from test_service_pinned_tokens import PINNED, TOKEN_KEY, engine

from tegridy_tokens.service import local_service
from tegridy_tokens.service.audit import AuditLog
from tegridy_tokens.service.auth import Principals
from tegridy_tokens.service.errors import AccessDenied, ConfigurationError, InvalidRequest
from tegridy_tokens.service.handler import detokenize_scopes_from_environment, handle_event

VALUES = [f"person-{i}@example.com" for i in range(10_000)]


def invoke(client, function: str, event: dict) -> tuple[dict, str | None]:
    response = client.invoke(FunctionName=function, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_two_scopes_give_different_tokens_for_every_value_and_the_same_token_within_a_scope():
    tokens = engine()
    a, b = tokens.tokens_for(VALUES, "marketing"), tokens.tokens_for(VALUES, "fraud")
    assert all(x != y for x, y in zip(a, b))
    assert len(set(a)) == len(set(b)) == len(VALUES)
    # Convergent: a new engine with the same key, in another order, gives the same tokens.
    assert engine().tokens_for(list(reversed(VALUES)), "marketing") == list(reversed(a))
    # The 43 characters after the tag differ too: no mapping from one scope's token to another's without the key.
    assert not {t.split(".", 1)[1] for t in a} & {t.split(".", 1)[1] for t in b}
    assert all(t.startswith("tgr_marketing.") for t in a) and all(t.startswith("tgr_fraud.") for t in b)
    ssns = [f"{i:03d}-45-{i:04d}" for i in range(1, 300)]
    assert all(handle_event(tokens, {"requests": [{"data": v, "format": "ssn"}], "scope": "marketing"}) !=
               handle_event(tokens, {"requests": [{"data": v, "format": "ssn"}]}) for v in ssns[:50])


def test_the_scope_key_is_hkdf_of_the_token_key_and_the_scope_name():
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tegridy-scope-v1:marketing").derive(TOKEN_KEY)
    import base64
    import hashlib
    import hmac

    digest = hmac.new(key, b"alice@example.com", hashlib.sha256).digest()
    expected = "tgr_marketing." + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    assert engine().token_for("alice@example.com", "marketing") == expected


def test_the_default_scope_named_or_not_keeps_the_pinned_tokens():
    for event in ({"requests": [{"data": v} for v in PINNED]}, {"requests": [{"data": v} for v in PINNED], "scope": "default"}):
        assert [r["token"] for r in handle_event(engine(), event)["responses"]] == list(PINNED.values())


def test_a_bad_scope_name_is_refused_naming_the_rule_not_the_name():
    for bad in ("Marketing", "a.b", "", 5, "x" * 64):
        with pytest.raises(InvalidRequest, match="scope name of 1 to 63 characters") as raised:
            handle_event(engine(), {"requests": [{"data": "v"}], "scope": bad})
        assert not (isinstance(bad, str) and bad and bad in str(raised.value))


def test_round_trip_in_each_scope_and_a_format_token_only_in_its_own(tmp_path):
    values = ["alice@example.com", "bob@example.com"]
    with local_service(vault=tmp_path / "vault.db") as service:
        client = client_for(service.endpoint)
        tokens = {}
        for scope in ("default", "marketing", "fraud"):
            answer, _ = invoke(client, service.function_name, {"requests": [{"data": v} for v in values], "scope": scope})
            tokens[scope] = [r["token"] for r in answer["responses"]]
            # Detokenize reads the scope from the token: the event need not name it.
            back, _ = invoke(client, service.detokenize_function_name, {"tokens": tokens[scope]})
            assert back == {"tokens": dict(zip(tokens[scope], values))}
        assert tokens["default"] == [engine_token for engine_token in tokens["default"] if "." not in engine_token]
        ssn, _ = invoke(client, service.function_name, {"requests": [{"data": "123-45-6789", "format": "ssn"}],
                                                        "scope": "fraud"})
        token = ssn["responses"][0]["token"]
        assert token != "737-95-3069"  # the default scope's pinned ssn token
        back, _ = invoke(client, service.detokenize_function_name, {"tokens": [token], "formats": ["ssn"], "scope": "fraud"})
        assert back == {"values": ["123-45-6789"]}
        # The same format token named under another scope is not found there.
        for scope in (None, "marketing"):
            event = {"tokens": [token], "formats": ["ssn"], **({"scope": scope} if scope else {})}
            assert invoke(client, service.detokenize_function_name, event)[0] == {"values": [None]}


def principals_with_scopes(tmp_path: Path) -> Principals:
    marketing = dict(ANALYST, name="marketing-analyst", access_key_id="AKIDMARKETING0000003",
                     secret_access_key="marketing-secret-3", detokenize_scopes=["marketing"])
    path = tmp_path / "principals.json"
    path.write_text(json.dumps({"principals": [ETL, ANALYST, marketing]}))
    path.chmod(0o600)
    return Principals.load(path)


def test_a_principal_allowed_scope_a_is_refused_scope_b_and_the_audit_names_the_scopes(tmp_path):
    audit_path = tmp_path / "audit.log"
    with local_service(vault=tmp_path / "vault.db", principals=principals_with_scopes(tmp_path),
                       audit=AuditLog(audit_path, b"k" * 32)) as service:
        etl = client_for(service.endpoint)
        tokens = {scope: invoke(etl, service.function_name, {"requests": [{"data": "carol@example.com"}],
                                                             "scope": scope})[0]["responses"][0]["token"]
                  for scope in ("default", "marketing", "fraud")}
        who = {"name": "marketing-analyst", "access_key_id": "AKIDMARKETING0000003",
               "secret_access_key": "marketing-secret-3"}
        marketing = client_for(service.endpoint, who)
        assert invoke(marketing, service.detokenize_function_name, {"tokens": [tokens["marketing"]]})[0] == {
            "tokens": {tokens["marketing"]: "carol@example.com"}}
        for scope in ("fraud", "default"):
            answer, error = invoke(marketing, service.detokenize_function_name, {"tokens": [tokens[scope]]})
            assert error == "Handled" and answer["errorType"] == "AccessDenied"
            assert f"reaches {scope}" in answer["errorMessage"] and "carol" not in answer["errorMessage"]
        # A principals entry without detokenize_scopes reads the default scope only.
        analyst = client_for(service.endpoint, ANALYST)
        assert invoke(analyst, service.detokenize_function_name, {"tokens": [tokens["default"]]})[0] == {
            "tokens": {tokens["default"]: "carol@example.com"}}
        assert invoke(analyst, service.detokenize_function_name, {"tokens": [tokens["marketing"]]})[0]["errorType"] \
            == "AccessDenied"
        # Mixed: one refused scope refuses the whole batch, nothing revealed.
        answer, _ = invoke(marketing, service.detokenize_function_name, {"tokens": [tokens["marketing"], tokens["fraud"]]})
        assert answer["errorType"] == "AccessDenied" and "carol" not in json.dumps(answer)
    lines = [json.loads(line) for line in audit_path.read_text().splitlines()]
    refused = [line for line in lines if line["outcome"] == "AccessDenied"]
    assert [line["scopes"] for line in refused][:2] == [["fraud"], ["default"]]
    assert {tuple(line["scopes"]) for line in lines if line["operation"] == "tokenize"} == {
        ("default",), ("marketing",), ("fraud",)}
    assert "carol" not in audit_path.read_text()


def test_principals_scopes_are_checked_when_the_file_loads(tmp_path):
    path = tmp_path / "principals.json"
    for bad in (["Marketing"], "marketing", []):
        path.write_text(json.dumps({"principals": [dict(ANALYST, detokenize_scopes=bad)]}))
        path.chmod(0o600)
        with pytest.raises(ConfigurationError, match="detokenize_scopes"):
            Principals.load(path)


def test_tegridy_scopes_sets_a_detokenize_functions_scopes():
    assert detokenize_scopes_from_environment({}) == frozenset({"default"})
    assert detokenize_scopes_from_environment({"TEGRIDY_SCOPES": "marketing, fraud"}) == {"marketing", "fraud"}
    assert detokenize_scopes_from_environment({"TEGRIDY_SCOPES": "*"}) is None
    with pytest.raises(ConfigurationError, match="TEGRIDY_SCOPES"):
        detokenize_scopes_from_environment({"TEGRIDY_SCOPES": "Bad Name"})


def test_the_lambda_handler_serves_only_its_tegridy_scopes(tmp_path, monkeypatch):
    from tegridy_tokens.service import handler
    from tegridy_tokens.service.config import open_engine

    vault = tmp_path / "vault.db"
    made = open_engine(vault)
    token = made.tokenize_plain(["dave@example.com"], scope="fraud")[0]
    monkeypatch.setenv("TEGRIDY_VAULT", f"sqlite://{vault}")
    monkeypatch.setenv("TEGRIDY_KEYRING", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("TEGRIDY_OPERATIONS", "detokenize")
    monkeypatch.setattr(handler, "_engine", None)
    monkeypatch.setattr(handler, "_audit", None)

    class Context:
        aws_request_id = "r1"
        function_name = "tegridy-tokens-detokenize-fraud"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tegridy-tokens-detokenize-fraud"

    with pytest.raises(AccessDenied):
        handler.lambda_handler({"tokens": [token]}, Context())
    monkeypatch.setenv("TEGRIDY_SCOPES", "fraud")
    assert handler.lambda_handler({"tokens": [token]}, Context()) == {"tokens": {token: "dave@example.com"}}
