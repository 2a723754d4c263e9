"""spark.tegridy.protocol=redshift end to end: a real local Spark with the real jar against the
reference service over HTTP, which answers Redshift's Lambda-UDF JSON. Tokenize and detokenize
round trip exactly, every request is Redshift-shaped and says who asks, and a batch the service
fails (success: false) for one value is bisected so that every other row gets its exact token."""

from __future__ import annotations

import logging

import pytest

from conftest import service_tokens

FIELDS = {"request_id", "cluster", "user", "database", "external_function", "query_id", "num_records", "arguments"}
CANARY = "canary-rs-e2e-0b7d"


@pytest.fixture()
def redshift(spark):
    spark.conf.set("spark.tegridy.protocol", "redshift")
    spark.conf.set("spark.tegridy.onError", "null")
    try:
        yield spark
    finally:
        spark.conf.unset("spark.tegridy.protocol")
        spark.conf.unset("spark.tegridy.onError")


def test_round_trip_is_exact_and_every_request_is_redshift_shaped(redshift, service):
    spark = redshift
    values = [f"{CANARY}-{i}@example.com" for i in range(300)]
    expected = service_tokens(service, values)  # the service's own tokens, asked in its own protocol
    start = len(service.received)
    df = spark.createDataFrame(list(enumerate(values)), "id long, v string").repartition(2)
    rows = df.selectExpr("id", "tegridy_tokenize(v) AS t", "tegridy_detokenize(tegridy_tokenize(v)) AS back").collect()
    assert len(rows) == len(values)
    for row in rows:
        assert row.t == expected[row.id]
        assert row.back == values[row.id]
    events = service.received[start:]
    assert events and all(set(event) == FIELDS for event in events)
    for event in events:
        assert event["cluster"] == spark.sparkContext.applicationId
        assert event["user"] == spark.sparkContext.sparkUser()
        assert event["database"] == spark.catalog.currentDatabase()
        assert isinstance(event["query_id"], int)
        assert event["num_records"] == len(event["arguments"]) and all(len(a) == 1 for a in event["arguments"])
    assert {event["external_function"] for event in events} == {"tegridy_tokenize_hp", "tegridy_detokenize_hp"}
    assert len({event["query_id"] for event in events}) == 1  # one query, one execution id


def test_a_refused_value_is_bisected_and_the_other_rows_are_exact(redshift, service, caplog):
    spark = redshift
    caplog.set_level(logging.DEBUG)
    ssns = [f"{100 + i:03d}-45-{6000 + i:04d}" for i in range(40)]
    poisoned = ssns[:17] + [f"{CANARY}-not-an-ssn"] + ssns[18:]
    spark.conf.unset("spark.tegridy.protocol")  # the expected tokens, asked in the tegridy protocol
    expected = [r.t for r in spark.createDataFrame([(s,) for s in ssns], "v string").coalesce(1)
                .selectExpr("tegridy_tokenize_hp(v, 'ssn') AS t").collect()]
    spark.conf.set("spark.tegridy.protocol", "redshift")
    start = len(service.received)
    rows = (spark.createDataFrame(list(enumerate(poisoned)), "id long, v string").coalesce(1)
            .selectExpr("id", "tegridy_tokenize_hp(v, 'ssn') AS t").collect())
    for row in rows:
        assert row.t == (None if row.id == 17 else expected[row.id]), row.id
    sent = [event for event in service.received[start:] if "arguments" in event]
    assert sum(1 for e in sent for a in e["arguments"] if a[0].startswith(CANARY)) >= 3  # halved down to it
    assert all(a[1] == "ssn" for e in sent for a in e["arguments"])  # the format as the second argument
    assert CANARY not in caplog.text
