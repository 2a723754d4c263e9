"""What a LIMIT sends, end to end against the real reference service: top-N, a LIMIT over
row_number(), and a plain LIMIT read by Arrow's toPandas call the service for the rows shown only,
and a call that the sort key itself reads tokenizes every row. Each shape's figures (invocations,
values sent) are the service's own count."""

from __future__ import annotations

import uuid

import pytest

from conftest import service_tokens

ROWS = 4000


@pytest.fixture(scope="module")
def table(spark):
    prefix = f"lim-{uuid.uuid4().hex[:8]}-"
    spark.range(0, ROWS, 1, 4).selectExpr("id", f"concat('{prefix}', id) AS v").createOrReplaceTempView("lim_t")
    spark.conf.set("spark.tegridy.cache.maxEntries", "0")
    yield prefix
    spark.conf.unset("spark.tegridy.cache.maxEntries")


def _sent(service, run):
    """(result, invocations, values sent) as the service counted them while `run` ran."""
    start = len(service.received)
    result = run()
    events = [e for e in service.received[start:] if e.get("requests")]
    return result, len(events), sum(len(e["requests"]) for e in events)


def _exact(service, values, tokens):
    assert list(tokens) == service_tokens(service, list(values))


SHAPES = {
    "ORDER BY v DESC LIMIT 10": "SELECT v, tegridy_tokenize_hp(v) AS t FROM lim_t ORDER BY v DESC LIMIT 10",
    "ORDER BY id LIMIT 10": "SELECT id, v, tegridy_tokenize_hp(v) AS t FROM lim_t ORDER BY id LIMIT 10",
    "row_number() ... LIMIT 10": ("SELECT id, v, tegridy_tokenize_hp(v) AS t, row_number() OVER (ORDER BY id) AS rn "
                                  "FROM lim_t LIMIT 10"),
    "LIMIT 10": "SELECT v, tegridy_tokenize_hp(v) AS t FROM lim_t LIMIT 10",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_limit_sends_the_rows_shown(spark, service, table, shape):
    rows, invocations, sent = _sent(service, lambda: spark.sql(SHAPES[shape]).collect())
    assert len(rows) == 10
    _exact(service, [r.v for r in rows], [r.t for r in rows])
    assert sent <= 1.05 * len(rows), f"{shape}: {sent} values in {invocations} invocations"


@pytest.mark.parametrize("shape", list(SHAPES))
def test_to_pandas_with_arrow_sends_the_rows_shown(spark, service, table, shape):
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    try:
        frame, invocations, sent = _sent(service, lambda: spark.sql(SHAPES[shape]).toPandas())
    finally:
        spark.conf.unset("spark.sql.execution.arrow.pyspark.enabled")
    assert len(frame) == 10
    _exact(service, list(frame["v"]), list(frame["t"]))
    assert sent <= 1.05 * len(frame), f"{shape} toPandas: {sent} values in {invocations} invocations"


def test_a_call_the_sort_key_reads_tokenizes_every_row(spark, service, table):
    rows, _, sent = _sent(service, lambda: spark.sql(
        "SELECT v, tegridy_tokenize_hp(v) AS t FROM lim_t ORDER BY t LIMIT 10").collect())
    tokens = service_tokens(service, [f"{table}{i}" for i in range(ROWS)])
    assert [r.t for r in rows] == sorted(tokens)[:10]
    assert sent == ROWS
