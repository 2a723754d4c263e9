"""Format-preserving tokens end to end: real local Spark, the real jar, the real reference service.
Shapes kept, convergent, round trip through tegridy_detokenize_hp(token, format); a too-short
value is refused without the value in the error; tokenize_pii by a per-row type column."""

from __future__ import annotations

import re

import pytest

from tegridy_tokens.service.formats import _luhn_valid


@pytest.fixture(scope="module")
def pii(spark):
    rows = [(0, "123-45-6789", "ssn"), (1, "4111 1111 1111 1111", "credit_card"), (2, "+44 20 7946 0958", "phone"),
            (3, "Jane.Doe@example.com", "email"), (4, "Springfield", "city")]
    # Built over range() so the rows take the batching path, as a real table's do.
    structs = ", ".join(f"struct({i} AS id, '{v}' AS v, '{t}' AS kind)" for i, v, t in rows)
    frame = spark.range(0, 1).selectExpr(f"inline(array({structs}))")
    frame.createOrReplaceTempView("pii")
    return dict((i, (v, t)) for i, v, t in rows)


def test_formats_keep_their_shape_are_convergent_and_round_trip(spark, pii):
    df = spark.sql("""SELECT id, v, kind, tegridy_tokenize_hp(v, kind) AS t, tegridy_tokenize_format(v, kind) AS t2
                      FROM pii WHERE kind <> 'city'""")
    assert "BatchTokenize" in df._jdf.queryExecution().executedPlan().toString()
    rows = {r.id: r for r in df.collect()}
    assert all(r.t == r.t2 and r.t != r.v for r in rows.values())
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", rows[0].t)
    card = rows[1].t
    assert len(card) == 19 and card[-4:] == "1111" and not _luhn_valid(card.replace(" ", ""))
    assert rows[2].t.startswith("+44 ") and len(rows[2].t) == len(rows[2].v)
    assert rows[3].t.endswith("@example.com")
    back = spark.sql("""SELECT id, tegridy_detokenize_hp(tegridy_tokenize_hp(v, kind), kind) AS back
                        FROM pii WHERE kind <> 'city'""").collect()
    assert {r.id: r.back for r in back} == {i: pii[i][0] for i in range(4)}


def test_a_too_short_value_is_refused_naming_the_format_not_the_value(spark):
    with pytest.raises(Exception) as error:
        spark.sql("SELECT tegridy_tokenize_hp(concat('555-', id), 'phone') FROM range(7, 8, 1, 1)").collect()
    message = str(error.value)
    assert "for format phone" in message and "555-7" not in message
    spark.conf.set("spark.tegridy.onError", "null")
    try:
        assert spark.sql("SELECT tegridy_tokenize_hp(concat('555-', id), 'phone') AS t FROM range(7, 8, 1, 1)").first().t is None
    finally:
        spark.conf.unset("spark.tegridy.onError")


def test_tokenize_pii_follows_the_type_column(spark, pii):
    rows = {r.id: r.t for r in spark.sql("SELECT id, tokenize_pii(v, kind) AS t FROM pii").collect()}
    assert rows[4] == "Springfield"  # not a PII type: unchanged, never sent
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", rows[0]) and rows[0] != "123-45-6789"
    assert rows[3].endswith("@example.com") and rows[3] != pii[3][0]
