"""Format-preserving tokens: each format's shape is kept, tokens are convergent and reversible, a
credit_card token fails the Luhn check and keeps the last 4, and refusals never hold the value."""

from __future__ import annotations

import re

import pytest

from tegridy_tokens.service.formats import FormatCipher, FormatError, _luhn_valid

KEY = bytes(range(32))
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011000990139424", "4222222222222"]


def cipher(name: str) -> FormatCipher:
    return FormatCipher(name, KEY)


@pytest.mark.parametrize("value", ["123-45-6789", "987654321"])
def test_ssn_keeps_its_shape(value):
    token = cipher("ssn").tokenize(value)
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}" if "-" in value else r"\d{9}", token) and token != value
    assert cipher("ssn").tokenize(value) == token and cipher("ssn").detokenize(token) == value


@pytest.mark.parametrize("value", CARDS)
def test_credit_card_keeps_last_four_and_separators_and_fails_luhn(value):
    assert _luhn_valid("".join(c for c in value if c.isdigit()))
    token = cipher("credit_card").tokenize(value)
    digits = "".join(c for c in token if c.isdigit())
    assert len(token) == len(value) and [c for c in token if not c.isdigit()] == [c for c in value if not c.isdigit()]
    assert token[-4:] == value[-4:] and token != value
    assert not _luhn_valid(digits)
    assert cipher("credit_card").detokenize(token) == value


def test_many_cards_round_trip_and_never_pass_luhn():
    c = cipher("credit_card")
    for n in range(300):
        body = f"4{n:014d}"
        check = next(d for d in "0123456789" if _luhn_valid(body + d))
        card = body + check
        token = c.tokenize(card)
        assert not _luhn_valid(token) and token[-4:] == card[-4:] and c.detokenize(token) == card


@pytest.mark.parametrize("value, kept", [("+1 415-555-0100", "+1 "), ("+44 20 7946 0958", "+44 "), ("(415) 555-0100", "")])
def test_phone_keeps_country_code_and_separators(value, kept):
    token = cipher("phone").tokenize(value)
    assert token.startswith(kept) and len(token) == len(value)
    assert [c for c in token if not c.isdigit()] == [c for c in value if not c.isdigit()]
    assert cipher("phone").detokenize(token) == value


def test_email_keeps_domain_and_punctuation():
    value = "John.Doe+news@example.com"
    token = cipher("email").tokenize(value)
    assert token.endswith("@example.com") and token[4] == "." and token[8] == "+" and token != value
    assert cipher("email").detokenize(token) == value


@pytest.mark.parametrize("name, value, rule", [
    ("ssn", "12-345-6789", "ddd-dd-dddd"),
    ("credit_card", "4111 1111 1111 1112", "Luhn"),
    ("email", "jo@x.io", "fewer than 1,000,000"),
    ("phone", "555-01", "fewer than 1,000,000"),
    ("phone", "+14155550100", "country code"),
])
def test_refusals_name_the_rule_never_the_value(name, value, rule):
    with pytest.raises(FormatError) as error:
        cipher(name).tokenize(value)
    assert rule in str(error.value) and name in str(error.value) and value not in str(error.value)


def test_the_service_tokenizes_formats_convergently_and_detokenizes_them_from_the_vault(tmp_path):
    import json

    from conftest import lambda_client
    from tegridy_tokens.service import local_service

    with local_service(vault=tmp_path / "vault.db") as service:
        client = lambda_client(service.endpoint)

        def call(event):
            function = service.function_name if "requests" in event else service.detokenize_function_name
            return json.loads(client.invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read())

        items = [{"data": "123-45-6789", "format": "ssn"}, {"data": "4111 1111 1111 1111", "format": "credit_card"},
                 {"data": "jane.doe@example.com", "format": "email"}, {"data": "plain"}, {"data": "12", "format": "ssn"}]
        first, again = call({"requests": items}), call({"requests": items})
        assert first == again  # convergent
        out = first["responses"]
        assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", out[0]["token"]) and out[1]["token"].endswith("1111")
        assert out[2]["token"].endswith("@example.com") and out[3]["token"].startswith("tgr_")
        assert out[4] == {"success": False, "error": out[4]["error"], "retryable": False} and "ssn" in out[4]["error"] and "12" not in out[4]["error"]
        tokens = [r["token"] for r in out[:4]]
        back = call({"tokens": tokens, "formats": ["ssn", "credit_card", "email", None]})
        assert back == {"values": ["123-45-6789", "4111 1111 1111 1111", "jane.doe@example.com", "plain"]}
        assert call({"tokens": tokens[:1], "formats": ["phone"]}) == {"values": [None]}  # wrong format: not found
        assert call({"tokens": tokens[3:]}) == {"tokens": {tokens[3]: "plain"}}  # the seeds' shape, unchanged
