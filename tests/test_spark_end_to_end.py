"""End to end: a real local Spark with the real jar against the real reference service."""

from __future__ import annotations

import pytest

from conftest import service_tokens

import tegridy_tokens
from tegridy_tokens.functions import detokenize, tokenize

CUSTOMERS = [
    (1, "john.doe@email.com", "123-45-6789"),
    (2, "jane.smith@email.com", "987-65-4321"),
    (3, "bob.johnson@email.com", None),
    (4, "ünïcødé@例え.jp", "   "),
    (5, "john.doe@email.com", ""),
]


@pytest.fixture(scope="module")
def customers(spark):
    frame = spark.createDataFrame(CUSTOMERS, "id INT, email STRING, ssn STRING")
    frame.createOrReplaceTempView("customers")
    return frame


def test_sql_tokens_are_the_services_tokens(spark, service, customers):
    rows = spark.sql("SELECT id, tegridy_tokenize_hp(email) AS t FROM customers ORDER BY id").collect()
    emails = [c[1] for c in CUSTOMERS]
    assert [r.t for r in rows] == service_tokens(service, emails)
    assert rows[0].t == rows[4].t  # convergent: same value, same token


def test_null_and_blank_are_kept_and_never_sent(spark, service, customers):
    service.received.clear()
    rows = spark.sql("SELECT id, tegridy_tokenize_hp(ssn) AS t FROM customers ORDER BY id").collect()
    assert rows[2].t is None and rows[3].t == "   " and rows[4].t == ""
    sent = [item.get("data") for event in service.received for item in event.get("requests", [])]
    assert set(sent) <= {"123-45-6789", "987-65-4321"}


def test_round_trip_through_column_helpers(spark, customers):
    back = (customers.select("id", "email", tokenize("email").alias("t"))
            .select("id", "email", detokenize("t").alias("back")).collect())
    assert all(r.email == r.back for r in back)


def test_aliases_and_expr(spark, customers):
    from pyspark.sql import functions as F

    row = customers.where("id = 1").select(
        F.expr("tegridy_tokenize(email)").alias("a"), F.expr("tegridy_tokenize_hp(email)").alias("b"),
        F.expr("tegridy_detokenize(tegridy_tokenize(email))").alias("c")).first()
    assert row.a == row.b and row.c == "john.doe@email.com"


def test_non_string_argument_suggests_a_cast(spark):
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException, match="CAST"):
        spark.sql("SELECT tegridy_tokenize_hp(42)").collect()


def test_register_on_a_running_session(spark, service):
    tegridy_tokens.register(spark, function_name=service.function_name, endpoint=service.endpoint)
    assert spark.sql("SELECT tegridy_tokenize_hp('x@y.z') AS t").first().t == service_tokens(service, ["x@y.z"])[0]


def test_metrics_table_reads_every_column_on_this_line(spark, customers):
    spark.sql("SELECT tegridy_tokenize_hp(email) FROM customers").collect()
    row = spark.sql("SELECT * FROM tegridy_metrics()").first().asDict()
    figures = tegridy_tokens.metrics(spark)
    assert set(figures) <= set(row)
    for key, value in row.items():  # each column read; counts are whole numbers, the rest floats
        assert isinstance(value, (int, float)), key
        if key in figures and isinstance(figures[key], int):
            assert isinstance(value, int) and value >= 0, key
    assert row["rows"] >= len(CUSTOMERS) and row["invocations"] >= 1
