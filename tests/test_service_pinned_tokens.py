"""Tokens and sealed entries pinned byte for byte: tokens are convergent, so an existing vault and
every table already holding tokens depend on the exact bytes. Any speed-up of the hot path must
leave these unchanged (the values were recorded from the service before it was optimised)."""

from __future__ import annotations

import json
import urllib.request

from tegridy_tokens.service.handler import handle_event
from tegridy_tokens.service.keyring import Keyring
from tegridy_tokens.service.sealing import open_many, public_key_of, seal_many
from tegridy_tokens.service.server import LambdaInvokeApp, ServerSettings
from tegridy_tokens.service.tokens import TokenEngine

TOKEN_KEY = bytes(range(32))
PINNED = {
    "alice@example.com": "tgr_pZ_FeNTLRvqrHW6zSOfHSzO4USLWRZ_be_VlSzM6yrQ",
    "": "tgr_04tCCW2A9F-Ca0Sp1WB95ySWpBXT9KGoyI47udqNwcs",
    "é中文🙂": "tgr_qKUcO6DxRr_C3dp_fgIV5C3lPjHaCr1D6t9NGFE8NpI",
    "a\"b\\c\n": "tgr_7N5_kV1lntvy-i8UV0E2Qd8NAwBWkrDkX052cM6QoCM",
    "\ud800lone": "tgr_690PQTrNdKWgM0lKlN4P5oD7CqGWzxeHM3an2_-SJqw",
    "x" * 1000: "tgr_KrTtOVbxcJTJsYeJU-kayetCz6AFnfK_v4Mr7inu9cI",
}
# Sealed with seal_many(3, public_key_of(bytes(range(1, 33))), {alice's token: alice}) before the change.
SEALED_ALICE = bytes.fromhex(
    "010000000343f51e0889ce20d87a195b24216a56e8b0fc1e6d033569f3e5a2977fbc921b05579b7ac859eb4d2a91f5499bb7d821"
    "97fc4a987afa1442cab46c890ad25356987b8e9757d13d2007f7ab583229")


def engine() -> TokenEngine:
    return TokenEngine(Keyring("pinned", 0, b"", token_key=TOKEN_KEY), None, frozenset({"tokenize"}))


def test_token_for_is_pinned():
    assert {value: engine().token_for(value) for value in PINNED} == PINNED


def test_a_mixed_batch_answers_as_before():
    event = {"requests": [{"data": "alice@example.com"}, {"data": 5}, {"data": "ssn-like", "format": "ssn"},
                          {"nodata": 1}, "str", {"data": "123-45-6789", "format": "ssn"}]}
    assert handle_event(engine(), event) == {"responses": [
        {"success": True, "token": PINNED["alice@example.com"], "data": "alice@example.com"},
        {"success": False, "error": "data must be a string, got int"},
        {"success": False, "error": "ssn: the value must be ddd-dd-dddd or 9 digits", "retryable": False},
        {"success": False, "error": "data must be a string, got NoneType"},
        {"success": False, "error": "data must be a string, got NoneType"},
        {"success": True, "token": "737-95-3069", "data": "123-45-6789"},
    ]}


def test_the_server_answers_pinned_tokens_over_http():
    stateless_values = list(PINNED)
    from tegridy_tokens.service.local import serve_app_in_thread

    app = LambdaInvokeApp(engine(), ServerSettings())
    with serve_app_in_thread(app) as endpoint:
        body = json.dumps({"requests": [{"data": v} for v in stateless_values]}).encode("utf-8")
        request = urllib.request.Request(endpoint + "/2015-03-31/functions/tegridy-tokens/invocations", data=body,
                                         method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    assert [r["token"] for r in answer["responses"]] == [PINNED[v] for v in stateless_values]
    assert [r["data"] for r in answer["responses"]] == stateless_values


def test_an_entry_sealed_before_still_opens():
    private = bytes(range(1, 33))
    token = PINNED["alice@example.com"]
    assert open_many({3: private}, {token: SEALED_ALICE}) == {token: "alice@example.com"}
    resealed = seal_many(3, public_key_of(private), {token: "alice@example.com"})
    assert open_many({3: private}, resealed) == {token: "alice@example.com"}
