"""The fault suite: a real local Spark with the real jar, the real reference service, and between
them a proxy (tests/fault_proxy.py) that resets, stalls, truncates, sends headers only, returns
garbage or replays an earlier reply, at 10% and at 50% of the calls, under both protocols.
Every output token is checked by detokenizing it directly against the service, and every
detokenized value against the value it came from: no wrong token, no wrong value, no NULL.
The engine's invocations are compared with the service's own counters."""

from __future__ import annotations

import json

import pytest

from conftest import lambda_client
from fault_proxy import FaultProxy

import tegridy_tokens

ROWS = 2000


def detokenize_directly(service, tokens: list[str]) -> list[str | None]:
    """Each token's value, asked of the service itself (no proxy), in the tegridy protocol."""
    client = lambda_client(service.endpoint)
    found: dict[str, str] = {}
    for start in range(0, len(tokens), 500):
        payload = json.dumps({"tokens": tokens[start:start + 500]})
        response = client.invoke(FunctionName=service.detokenize_function_name, Payload=payload)
        found.update(json.loads(response["Payload"].read())["tokens"])
    return [found.get(token) for token in tokens]


@pytest.mark.parametrize("protocol", ["tegridy", "redshift"])
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_faulty_network_gives_exact_tokens_and_values(spark, service, session_settings, protocol, rate):
    with FaultProxy(service.endpoint, rate=rate, stall_s=3.0) as proxy:
        settings = {"spark.tegridy.lambda.endpoint": proxy.endpoint, "spark.tegridy.protocol": protocol,
                    "spark.tegridy.batch.maxRows": "50", "spark.tegridy.timeoutMs": "1500",
                    "spark.tegridy.retry.totalTimeoutMs": "240000", "spark.tegridy.cache.maxEntries": "0",
                    # NULL for a value's own failure: a transport fault or a replay taken for one would show.
                    "spark.tegridy.onError": "null"}
        if protocol == "redshift":
            settings["spark.tegridy.redshift.verify"] = "sample"
        session_settings(settings)
        tag = f"fp-{protocol}-{int(rate * 100)}"
        values = [f"{tag}-{i}@example.com" for i in range(ROWS)]
        before = service.stats()
        with tegridy_tokens.measure(spark) as tokenizing:
            rows = (spark.createDataFrame(list(enumerate(values)), "id long, v string").repartition(2)
                    .selectExpr("id", "tegridy_tokenize_hp(v) AS t").collect())
        tokens = [None] * ROWS
        for row in rows:
            tokens[row.id] = row.t
        with tegridy_tokens.measure(spark) as detokenizing:
            back = (spark.createDataFrame(list(enumerate(tokens)), "id long, t string").repartition(2)
                    .selectExpr("id", "tegridy_detokenize_hp(t) AS v").collect())
        after = service.stats()

    assert sum(proxy.faults.values()) > 0
    assert all(token is not None for token in tokens), f"{tokens.count(None)} NULL token(s)"
    direct = detokenize_directly(service, tokens)
    wrong = [i for i in range(ROWS) if direct[i] != values[i]]
    assert not wrong, f"{len(wrong)} token(s) of another value"
    values_back = {row.id: row.v for row in back}
    assert sum(1 for i in range(ROWS) if values_back[i] is None) == 0
    assert all(values_back[i] == values[i] for i in range(ROWS))

    engine = tokenizing.metrics["invocations"] + detokenizing.metrics["invocations"]
    received = after["invocations"] - before["invocations"]
    print(f"\nfault proxy {protocol} {rate:.0%}: faults {dict(proxy.faults)}; engine invocations {engine:.0f}, "
          f"service invocations {received}, proxy forwarded {proxy.forwarded}; engine retries "
          f"{tokenizing.metrics['retries'] + detokenizing.metrics['retries']:.0f}, errors "
          f"{tokenizing.metrics['errors'] + detokenizing.metrics['errors']:.0f}")
    assert tokenizing.metrics["errors"] == detokenizing.metrics["errors"] == 0
    # Every call the proxy took reached the service; the engine may count a few more: a request
    # written to a connection the proxy had just closed after a fault was sent, but never arrived.
    assert received == proxy.forwarded
    assert received <= engine <= received + sum(proxy.faults.values())
