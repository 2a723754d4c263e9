"""The reference handler's Redshift Lambda-UDF shape (service/redshift.py): tokenize and detokenize
answered Redshift-style, formats as a second argument, a refused value failing the batch with an
error_msg that never quotes it, and the same over HTTP through the unchanged boto3 client."""

from __future__ import annotations

import json

import pytest

from conftest import lambda_client
from tegridy_tokens.service import local_service
from tegridy_tokens.service.config import open_engine
from tegridy_tokens.service.errors import AccessDenied, VaultUnavailable
from tegridy_tokens.service.handler import answered_count, event_shape, handle_event
from tegridy_tokens.service.keyring import DETOKENIZE, TOKENIZE
from tegridy_tokens.service.tokens import TOKEN_PREFIX, TokenResult

CANARY = "canary-rs-5e1d-do-not-log@example.com"


def redshift_event(rows: list, function: str = "tegridy_tokenize") -> dict:
    return {"request_id": "5b0c3a4e-0000-4000-8000-000000000000", "cluster": "local-1700000000000",
            "user": "etl", "database": "default", "external_function": function, "query_id": 7,
            "num_records": len(rows), "arguments": rows}


@pytest.fixture()
def engine(tmp_path):
    return open_engine(tmp_path / "vault.db")


def view(engine, operations: frozenset[str]):
    """The engine as one deployed function sees it (as the local server's views do)."""
    import copy

    one = copy.copy(engine)
    one.operations = frozenset(operations)
    return one


def test_tokenize_answers_one_result_per_row_in_order(engine):
    values = [CANARY, "b@example.com", CANARY, "ünïcødé ✓"]
    answer = handle_event(view(engine, {TOKENIZE}), redshift_event([[v] for v in values]))
    assert answer["success"] is True and answer["num_records"] == 4
    tokens = answer["results"]
    assert all(t.startswith(TOKEN_PREFIX) for t in tokens)
    assert tokens[0] == tokens[2] and len(set(tokens)) == 3
    # The same tokens as the tegridy shape gives: one service, two dialects.
    own = handle_event(engine, {"requests": [{"data": v} for v in values]})["responses"]
    assert tokens == [r["token"] for r in own]


def test_detokenize_round_trip_and_null_for_unknown_tokens(engine):
    tokens = handle_event(view(engine, {TOKENIZE}), redshift_event([[CANARY], ["x"]]))["results"]
    rows = [[tokens[0]], ["tgr_notatoken"], [tokens[1]], [None]]
    answer = handle_event(view(engine, {DETOKENIZE}), redshift_event(rows, "tegridy_detokenize"))
    assert answer == {"success": True, "num_records": 4, "results": [CANARY, None, "x", None]}


def test_a_format_rides_as_the_second_argument(engine):
    rows = [["123-45-6789", "ssn"], ["plain", "default"]]
    answer = handle_event(view(engine, {TOKENIZE}), redshift_event(rows, "tegridy_tokenize_hp"))
    ssn_token, plain_token = answer["results"]
    assert len(ssn_token) == len("123-45-6789") and ssn_token != "123-45-6789"
    assert plain_token.startswith(TOKEN_PREFIX)
    back = handle_event(view(engine, {DETOKENIZE}),
                        redshift_event([[ssn_token, "ssn"], [plain_token, "default"]], "tegridy_detokenize_hp"))
    assert back["results"] == ["123-45-6789", "plain"]


def test_a_refused_value_fails_the_batch_without_quoting_it(engine):
    rows = [["123-45-6789", "ssn"], [CANARY, "ssn"]]  # the canary does not fit the ssn format
    answer = handle_event(view(engine, {TOKENIZE}), redshift_event(rows))
    assert answer["success"] is False
    assert "1 of 2" in answer["error_msg"] and "ssn" in answer["error_msg"]
    assert CANARY not in json.dumps(answer)


def test_a_value_the_vault_did_not_store_raises_a_retryable_error(engine, monkeypatch):
    monkeypatch.setattr(type(engine), "tokenize", lambda self, values, deadline=None, formats=None, before_store=None, whole_batch=False:
                        [TokenResult(error="later", retryable=True) for _ in values])
    with pytest.raises(VaultUnavailable, match="retry the batch"):
        handle_event(view(engine, {TOKENIZE}), redshift_event([[CANARY]]))


@pytest.mark.parametrize("event, problem", [
    ({"num_records": 1, "arguments": "v"}, "'arguments' must be a list"),
    ({"num_records": 2, "arguments": [["v"]]}, "'num_records' is 2 but 'arguments' has 1 rows"),
    ({"num_records": 1, "arguments": [["v", "ssn", "x"]]}, "row 0 must be [value] or [value, format]"),
    ({"num_records": 1, "arguments": [[1]]}, "row 0 must be"),
])
def test_malformed_requests_are_refused_redshift_style(engine, event, problem):
    answer = handle_event(view(engine, {TOKENIZE}), event)
    assert answer["success"] is False and problem in answer["error_msg"]


def test_the_operation_is_the_functions_own_or_by_external_function_name(engine):
    tokens = handle_event(engine, redshift_event([[CANARY]], "tegridy_tokenize"))["results"]
    assert tokens[0].startswith(TOKEN_PREFIX)  # a function serving both goes by the name
    back = handle_event(engine, redshift_event([[tokens[0]]], "public.f_detokenize"))
    assert back["results"] == [CANARY]
    with pytest.raises(AccessDenied, match="detokenize is not allowed"):
        handle_event(view(engine, frozenset()), redshift_event([[tokens[0]]], "f_detokenize"))


def test_event_shape_and_answer_counts_for_the_audit(engine):
    event = redshift_event([["t1"], ["t2"], None], "safe_detokenize")
    assert event_shape(event, frozenset({DETOKENIZE})) == (DETOKENIZE, 3, ["t1", "t2"])
    assert event_shape(event, frozenset({TOKENIZE})) == (TOKENIZE, 3, [])
    assert answered_count(DETOKENIZE, {"success": True, "results": ["v", None, "w"]}) == 2
    assert answered_count(TOKENIZE, {"success": False, "error_msg": "no"}) == 0


def test_over_http_through_boto3(tmp_path):
    with local_service(vault=tmp_path / "vault.db") as running:
        client = lambda_client(running.endpoint)

        def invoke(function: str, event: dict) -> dict:
            response = client.invoke(FunctionName=function, Payload=json.dumps(event))
            assert response["StatusCode"] == 200 and response.get("FunctionError") is None
            return json.loads(response["Payload"].read())

        tokens = invoke(running.function_name, redshift_event([[CANARY], ["b"]]))["results"]
        back = invoke(running.detokenize_function_name, redshift_event([[t] for t in tokens], "tegridy_detokenize"))
        assert back == {"success": True, "num_records": 2, "results": [CANARY, "b"]}
