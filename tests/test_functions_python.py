"""Each SQL function has a Column helper in tegridy_tokens.functions that gives what the SQL gives
(real Spark, real jar, real reference service)."""

from __future__ import annotations

from pyspark.sql import functions as F

from tegridy_tokens import functions as T


def test_column_helpers_match_their_sql(spark):
    df = spark.range(0, 4, 1, 1).selectExpr(
        "id", "concat('user', lpad(id, 4, '0'), '@example.com') AS email", "'123-45-6789' AS ssn",
        "IF(id % 2 = 0, 'email', 'city') AS kind", "array(concat('a', id), NULL, concat('a', id)) AS arr")
    df.createOrReplaceTempView("helpers")
    helpers = df.select(
        "id", T.tokenize("email").alias("t"), T.tokenize("ssn", format="ssn").alias("fmt"),
        T.tokenize_format("ssn", "ssn").alias("fmt2"), T.try_tokenize("email").alias("try_t"),
        T.tokenize_result("email").alias("res"), T.tokenize_map("arr").alias("m"),
        T.conditional_tokenize("email", F.col("id") > 1).alias("cond"), T.tokenize_pii("email", F.col("kind")).alias("pii"),
    ).orderBy("id").collect()
    sql = spark.sql("""SELECT id, tegridy_tokenize_hp(email) AS t, tegridy_tokenize_hp(ssn, 'ssn') AS fmt,
                              tegridy_tokenize_result(email) AS res, tegridy_tokenize_map(arr) AS m,
                              tegridy_conditional_tokenize(email, id > 1) AS cond, tokenize_pii(email, kind) AS pii
                       FROM helpers ORDER BY id""").collect()
    for h, s in zip(helpers, sql):
        assert h.t == s.t == h.try_t and h.fmt == s.fmt == h.fmt2 and h.res == s.res and h.m == s.m
        assert h.cond == s.cond and h.pii == s.pii
    assert helpers[0].cond == "user0000@example.com" and helpers[3].cond.startswith("tgr_")
    back = df.select(T.detokenize(T.tokenize("email")).alias("b"), "email",
                     T.detokenize(T.tokenize("ssn", "ssn"), "ssn").alias("s"), "ssn").collect()
    assert all(r.b == r.email and r.s == r.ssn for r in back)
