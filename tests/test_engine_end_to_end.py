"""The batching engine end to end: a real local Spark (local[2]) with the real jar against the
real reference service. Data comes from range(), so queries take the batching path (a
VALUES/createDataFrame table is small enough for Spark to evaluate row by row at planning)."""

from __future__ import annotations

import math

import pytest

from conftest import service_tokens

import tegridy_tokens
from tegridy_tokens.functions import detokenize, tokenize


def sent_values(service, start: int = 0) -> list:
    return [item.get("data") for event in service.received[start:] for item in event.get("requests", [])]


def plan_of(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


@pytest.fixture(scope="module")
def people(spark):
    # 12 people: every third is PUBLIC; emails repeat every 6 rows.
    frame = spark.range(0, 12, 1, 2).selectExpr(
        "CAST(id AS INT) AS id",
        "concat('person', id % 6, '@example.com') AS email",
        "IF(id % 3 = 0, 'PUBLIC', 'PII') AS cls",
        "CASE WHEN id = 1 THEN NULL WHEN id = 2 THEN '' WHEN id = 4 THEN '   ' ELSE concat('ssn-', id) END AS ssn")
    frame.createOrReplaceTempView("people")
    return frame


def test_sql_takes_the_batching_path_and_matches_the_service(spark, service, people):
    df = spark.sql("SELECT id, email, tegridy_tokenize_hp(email) AS t FROM people ORDER BY id")
    assert "BatchTokenize" in plan_of(df)
    rows = df.collect()
    assert [r.t for r in rows] == service_tokens(service, [r.email for r in rows])


def test_null_and_blanks_are_kept_and_never_sent(spark, service, people):
    start = len(service.received)
    rows = {r.id: r.t for r in spark.sql("SELECT id, tegridy_tokenize_hp(ssn) AS t FROM people").collect()}
    assert rows[1] is None and rows[2] == "" and rows[4] == "   "
    assert rows[5].startswith("tgr_")
    assert all(v and v.strip() for v in sent_values(service, start))


def test_case_when_never_sends_the_untaken_branch(spark, service, people):
    start = len(service.received)
    df = spark.sql("""
        SELECT id, cls, CASE WHEN cls = 'PII' THEN tegridy_tokenize_hp(concat('guard-', email)) ELSE email END AS e
        FROM people""")
    rows = df.collect()
    public = {f"guard-{r.e}" for r in rows if r.cls == "PUBLIC"}
    assert public and all(r.e.startswith("tgr_") for r in rows if r.cls == "PII")
    sent = set(sent_values(service, start))
    assert sent and not (sent & public)


def test_where_group_by_and_join_on_tokens(spark, people):
    spark.range(0, 6, 1, 1).selectExpr("concat('person', id, '@example.com') AS email", "id * 10 AS score") \
        .createOrReplaceTempView("scores")
    where = spark.sql("""SELECT id FROM people
                         WHERE tegridy_tokenize_hp(email) = (SELECT tegridy_tokenize_hp('person1@example.com'))""")
    assert sorted(r.id for r in where.collect()) == [1, 7]
    grouped = spark.sql("SELECT tegridy_tokenize_hp(email) AS t, count(*) AS n FROM people GROUP BY tegridy_tokenize_hp(email)")
    counts = grouped.collect()
    assert len(counts) == 6 and all(r.n == 2 for r in counts)
    joined = spark.sql("""SELECT p.id, s.score FROM people p JOIN scores s
                          ON tegridy_tokenize_hp(p.email) = tegridy_tokenize_hp(s.email)""")
    assert sorted((r.id, r.score) for r in joined.collect()) == sorted((i, (i % 6) * 10) for i in range(12))


def test_expr_column_helpers_and_round_trip(spark, people):
    from pyspark.sql import functions as F

    df = people.select("id", "email", tokenize("email").alias("t"), F.expr("tegridy_tokenize(email)").alias("t2"))
    back = df.select("email", "t", "t2", detokenize(F.col("t")).alias("back")).collect()
    assert all(r.t == r.t2 and r.back == r.email for r in back)


def test_unicode_and_one_megabyte_values_round_trip(spark):
    frame = spark.range(0, 4, 1, 2).selectExpr(
        "id",
        "CASE id WHEN 0 THEN 'ünïcødé ✓ 東京 🙂' WHEN 1 THEN repeat('€', 350000) "
        "WHEN 2 THEN concat(repeat('m', 1048576), 'end') ELSE 'plain' END AS v")
    rows = frame.select("id", "v", detokenize(tokenize("v")).alias("back"), tokenize("v").alias("t")).collect()
    assert all(r.back == r.v and r.t.startswith("tgr_") for r in rows)
    assert len({r.t for r in rows}) == 4


def test_100k_rows_10k_distinct_batch_and_dedup(spark, service):
    max_rows = 500
    distinct = 10_000
    before, service_before = tegridy_tokens.metrics(spark), service.stats()
    df = spark.range(0, 100_000, 1, 4).selectExpr(f"concat('bulk', id % {distinct}, '@example.com') AS email") \
        .selectExpr("tegridy_tokenize_hp(email) AS t")
    assert df.where("t LIKE 'tgr_%'").count() == 100_000
    after, service_after = tegridy_tokens.metrics(spark), service.stats()
    delta = {k: after[k] - before[k] for k in after if not k.startswith("latency")}
    assert delta["rows"] == 100_000
    assert delta["invocations"] <= 2 * math.ceil(distinct / max_rows)
    assert delta["values_sent"] <= 1.10 * distinct
    # The engine's own figures are the service's.
    assert delta["invocations"] == service_after["tokenize_invocations"] - service_before["tokenize_invocations"]
    assert delta["values_sent"] == service_after["values_received"] - service_before["values_received"]
    assert after["latency_ms_p50"] > 0 and after["latency_ms_p99"] >= after["latency_ms_p50"]
    assert delta["errors"] == 0


def test_register_adds_functions_and_batching_to_a_running_session(spark, service):
    tegridy_tokens.register(spark, function_name=service.function_name,
                            detokenize_function_name=service.detokenize_function_name, endpoint=service.endpoint)
    df = spark.range(0, 3, 1, 1).selectExpr("tegridy_tokenize_hp(concat('reg', id)) AS t")
    assert "BatchTokenize" in plan_of(df)
    assert [r.t for r in df.collect()] == service_tokens(service, ["reg0", "reg1", "reg2"])
