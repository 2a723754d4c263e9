"""Property-based: random JSON events through the Lambda handler, random bodies through the local
server over HTTP. Whatever arrives, the answer is an answer or one of the documented errors
(InvalidRequest, AccessDenied; 400 for a body that is not an event), never a crash, and a
refused request leaves the vault as it was."""

from __future__ import annotations

import http.client
import io
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tegridy_tokens.service import local_service
from tegridy_tokens.service.audit import AuditLog
from tegridy_tokens.service.config import open_engine
from tegridy_tokens.service.errors import AccessDenied, InvalidRequest

# What a request may fail with, documented in docs/protocols.md; anything else is a bug.
DOCUMENTED = (InvalidRequest, AccessDenied)
DOCUMENTED_TYPES = {"InvalidRequest", "AccessDenied"}
KNOWN_VALUES = ["prop-alice@example.com", "123-45-6789", "ünïcødé"]
FORMATS = ["ssn", "email", "phone", "credit_card", "default", "no-such-format"]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                                   max_size=4), max_leaves=12)


def events(known_tokens: list[str]) -> st.SearchStrategy:
    """Events near the protocols' shapes, and anything else JSON can be."""
    token = st.sampled_from(known_tokens) | st.text(max_size=50) | json_values
    item = st.fixed_dictionaries({"data": st.sampled_from(KNOWN_VALUES) | st.text(max_size=20) | json_values},
                                 optional={"format": st.sampled_from(FORMATS) | json_values}) | json_values
    row = st.lists(st.none() | st.text(max_size=20) | st.sampled_from(known_tokens + FORMATS) | json_values, max_size=3)
    return st.one_of(
        json_values,
        st.fixed_dictionaries({"requests": st.lists(item, max_size=6) | json_values}, optional={"role": json_values}),
        st.fixed_dictionaries({"tokens": st.lists(token, max_size=6) | json_values},
                              optional={"formats": st.lists(st.sampled_from(FORMATS) | json_values, max_size=6),
                                        "role": st.text(max_size=8) | json_values}),
        st.fixed_dictionaries({"arguments": st.lists(row | st.none(), max_size=5) | json_values,
                               "num_records": st.integers(-1, 6) | json_values},
                              optional={"external_function": st.sampled_from(["tegridy_detokenize_hp", "f"]) | json_values}),
    )


def vault_entries(vault: Path) -> int:
    with sqlite3.connect(vault) as connection:
        return connection.execute("SELECT count(*) FROM entries").fetchone()[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


@pytest.fixture(scope="module")
def known_tokens(home) -> list[str]:
    engine = open_engine(home / "vault.db")
    return engine.tokenize_plain(KNOWN_VALUES)


def refused(answer) -> bool:
    """A whole-request refusal inside a normal answer: Redshift's `success: false`."""
    return isinstance(answer, dict) and answer.get("success") is False


def test_random_events_through_the_lambda_handler(home, known_tokens, monkeypatch):
    from tegridy_tokens.service import handler

    vault = home / "vault.db"
    monkeypatch.setattr(handler, "_engine", open_engine(vault))
    monkeypatch.setenv("TEGRIDY_OPERATIONS", "tokenize,detokenize")
    stream = io.StringIO()
    monkeypatch.setattr(handler, "_audit", AuditLog(stream=stream, key=b"k" * 32, instance="property"))
    context = SimpleNamespace(aws_request_id="r", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:f",
                              function_name="f", get_remaining_time_in_millis=lambda: 30000)

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events(known_tokens))
    def check(event):
        before = vault_entries(vault)
        try:
            answer = handler.lambda_handler(event, context)
        except DOCUMENTED:
            assert vault_entries(vault) == before
            return
        json.dumps(answer)  # an answer Lambda can send
        if refused(answer):
            assert vault_entries(vault) == before

    check()
    assert all(json.loads(line)["mac"] for line in stream.getvalue().splitlines())  # every invocation audited


@pytest.fixture(scope="module")
def server(home, known_tokens):
    audit = AuditLog(home / "audit.jsonl", b"k" * 32)
    with local_service(vault=home / "vault.db", audit=audit) as service:
        yield service


bodies = st.one_of(st.binary(max_size=64), st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")))


def test_random_bodies_through_the_server(home, known_tokens, server):
    vault = home / "vault.db"
    host_port = server.endpoint.split("//")[1]

    event_bodies = events(known_tokens).map(lambda e: json.dumps(e).encode())

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(bodies, event_bodies, event_bodies, event_bodies),
           st.sampled_from(["tegridy-tokens", "tegridy-tokens-detokenize"]),
           st.sampled_from([None, None, None, None, "RequestResponse", "DryRun", "Bogus"]))
    def check(body, function, invocation_type):
        before = vault_entries(vault)
        headers = {"X-Amz-Invocation-Type": invocation_type} if invocation_type else {}
        connection = http.client.HTTPConnection(host_port, timeout=60)
        connection.request("POST", f"/2015-03-31/functions/{function}/invocations", body=body, headers=headers)
        response = connection.getresponse()
        status, error, answer = response.status, response.getheader("X-Amz-Function-Error"), response.read()
        connection.close()
        assert status in (200, 204, 400), (status, answer[:200])
        if status == 204:
            assert vault_entries(vault) == before  # DryRun does nothing
            return
        document = json.loads(answer)  # always JSON, errors included
        if status == 400:
            assert response.getheader("x-amzn-ErrorType") in ("InvalidRequestContentException", "InvalidParameterValueException")
        if error is not None:
            assert document["errorType"] in DOCUMENTED_TYPES, document
        if status == 400 or error is not None or refused(document):
            assert vault_entries(vault) == before

    check()
