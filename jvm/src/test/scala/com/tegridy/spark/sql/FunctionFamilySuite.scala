package com.tegridy.spark.sql

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.LocalSparkSession
import com.tegridy.spark.testing.FakeLambda.Reply

/** The function family against the fake Lambda (tokens are T(value)): each form batched, exact. */
class FunctionFamilySuite extends AnyFunSuite with LocalSparkSession {
  private def plan(df: org.apache.spark.sql.DataFrame): String = df.queryExecution.executedPlan.toString

  /** The fake refuses one value for good and tokenizes the rest. */
  private def refusing(poison: String): Seq[String] => Reply = values => Reply(200, Map.empty, values.map { v =>
    if (v == poison) """{"success":false,"retryable":false,"error":"refused"}"""
    else s"""{"success":true,"token":"T($v)","data":"$v"}"""
  }.mkString("""{"responses":[""", ",", "]}"))

  test("arrays: order, NULL and blank elements kept, a NULL array is NULL; the seed's _batch names are aliases") {
    lambda.reset()
    val df = spark.sql("""SELECT id,
        tegridy_tokenize_hp(CASE WHEN id = 0 THEN NULL ELSE array(concat('a', id), NULL, '', ' ', concat('b', id)) END) AS t,
        tegridy_tokenize_batch(array(concat('a', id))) AS alias
      FROM range(0, 4, 1, 2)""")
    assert(plan(df).contains("BatchTokenize"))
    val rows = df.collect().sortBy(_.getLong(0))
    assert(rows(0).isNullAt(1))
    rows.drop(1).foreach { r =>
      val id = r.getLong(0)
      assert(r.getSeq[String](1) == Seq(s"T(a$id)", null, "", " ", s"T(b$id)"))
      assert(r.getSeq[String](2) == Seq(s"T(a$id)"))
    }
    val back = spark.sql("SELECT tegridy_detokenize_batch(array('T(x)', NULL, 'T(y)')) AS v FROM range(0, 1, 1, 1)")
    assert(back.collect().head.getSeq[String](0) == Seq("x", null, "y"))
  }

  test("arrays: dedup spans elements and rows; 10K distinct elements send about 10K values") {
    lambda.reset()
    withConf("spark.tegridy.cache.maxEntries" -> "0") {
      val rows = spark.sql("""SELECT tegridy_tokenize_hp(array(concat('e', id % 10000), concat('e', (id + 1) % 10000), concat('e', id % 10000)))
                              FROM range(0, 40000, 1, 2)""").collect()
      assert(rows.length == 40000)
      assert(lambda.sentValues.size <= 2 * 10000, s"${lambda.sentValues.size} values sent for 10,000 distinct")
    }
  }

  test("tegridy_tokenize_map: each distinct non-blank element to its token") {
    lambda.reset()
    val df = spark.sql("""SELECT id, tegridy_tokenize_map(CASE WHEN id = 0 THEN NULL ELSE array('m1', NULL, ' ', 'm2', 'm1') END) AS m
                          FROM range(0, 2, 1, 1)""")
    assert(plan(df).contains("BatchTokenize"))
    val rows = df.collect().sortBy(_.getLong(0))
    assert(rows(0).isNullAt(1))
    assert(rows(1).getMap[String, String](1) == Map("m1" -> "T(m1)", "m2" -> "T(m2)"))
    assert(lambda.sentValues.toSet == Set("m1", "m2"))
  }

  test("tegridy_conditional_tokenize: a value whose condition is not true is never sent") {
    lambda.reset()
    val df = spark.sql("""SELECT id, tegridy_conditional_tokenize(concat('secret-', id),
                                   CASE WHEN id % 3 = 0 THEN true WHEN id % 3 = 1 THEN false ELSE NULL END) AS t
                          FROM range(0, 30, 1, 2)""")
    assert(plan(df).contains("BatchTokenize"))
    df.collect().foreach { r =>
      val id = r.getLong(0)
      assert(r.getString(1) == (if (id % 3 == 0) s"T(secret-$id)" else s"secret-$id"))
    }
    assert(lambda.sentValues.toSet == (0 until 30 by 3).map(i => s"secret-$i").toSet)
  }

  test("tegridy_try_tokenize: a refused value is NULL, counted, even under onError=fail") {
    lambda.reset()
    lambda.respond = refusing("poison-3")
    withConf("spark.tegridy.onError" -> "fail") {
      val df = spark.sql("SELECT id, tegridy_try_tokenize(concat('poison-', id)) FROM range(0, 6, 1, 1)")
      assert(plan(df).contains("BatchTokenize"))
      val rows = df.collect()
      assert(rows.filter(_.isNullAt(1)).map(_.getLong(0)).toSeq == Seq(3L))
      assert(rows.filterNot(_.isNullAt(1)).forall(r => r.getString(1) == s"T(poison-${r.getLong(0)})"))
      intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(concat('poison-', id)) FROM range(0, 6, 1, 1)").collect())
    }
  }

  test("tegridy_tokenize_result: the token, or NULL and the reason, per row; the value never in the error") {
    lambda.reset()
    lambda.respond = refusing("poison-3")
    val df = spark.sql("SELECT id, tegridy_tokenize_result(concat('poison-', id)) AS r FROM range(0, 6, 1, 1)")
    assert(plan(df).contains("BatchTokenize"))
    df.select("id", "r.token", "r.error").collect().foreach { row =>
      if (row.getLong(0) == 3) {
        assert(row.isNullAt(1) && row.getString(2).contains("rejected") && !row.getString(2).contains("poison-3"))
      } else assert(row.getString(1) == s"T(poison-${row.getLong(0)})" && row.isNullAt(2))
    }
  }

  test("formats: the format travels per item, keys stay apart per format, an unknown format is a clear error") {
    lambda.reset()
    val df = spark.sql("""SELECT id, tegridy_tokenize_hp(concat('v', id % 2), CASE WHEN id < 2 THEN 'ssn' ELSE 'default' END) AS t
                          FROM range(0, 4, 1, 1)""")
    val rows = df.collect().sortBy(_.getLong(0))
    assert(rows.map(_.getString(1)).toSeq == Seq("T(v0)", "T(v1)", "T(v0)", "T(v1)")) // the fake ignores formats
    val bodies = lambda.batches.toArray.toSeq.flatMap(_.asInstanceOf[Seq[String]])
    assert(bodies.size == 4, "v0 and v1 once as ssn and once as default")
    val error = intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(concat('secret-', id), 'bank') FROM range(0, 1)").collect())
    val message = Iterator.iterate[Throwable](error)(_.getCause).takeWhile(_ != null).map(_.getMessage).mkString(" | ")
    assert(message.contains("unknown token format 'bank'") && !message.contains("secret-0"))
  }

  test("tokenize_pii: only the configured types are sent") {
    lambda.reset()
    val rows = spark.sql("""SELECT id, tokenize_pii(concat('x', id), CASE id % 3 WHEN 0 THEN 'email' WHEN 1 THEN 'SSN' ELSE 'city' END)
                            FROM range(0, 6, 1, 1)""").collect().sortBy(_.getLong(0))
    rows.foreach(r => assert(r.getString(1) == (if (r.getLong(0) % 3 == 2) s"x${r.getLong(0)}" else s"T(x${r.getLong(0)})")))
    assert(lambda.sentValues.toSet == Set("x0", "x1", "x3", "x4"))
  }

  private def chain(error: Throwable): String =
    Iterator.iterate[Throwable](error)(_.getCause).takeWhile(_ != null).map(_.getMessage).mkString(" | ")

  test("every function names itself in its column label and its errors") {
    spark.range(0, 2, 1, 1).selectExpr("concat('n-', id) AS v", "'ssn' AS kind", "map('k', 'v') AS m").createOrReplaceTempView("named")
    val labels = spark.sql("""SELECT tegridy_try_tokenize(v), tegridy_tokenize_result(v), tokenize_pii(v, kind),
                                     safe_detokenize(v) FROM named""").columns.toSeq
    assert(labels == Seq("tegridy_try_tokenize(v)", "tegridy_tokenize_result(v)", "tokenize_pii(v, kind)", "safe_detokenize(v)"),
      labels.mkString(", "))
    lambda.reset()
    lambda.respond = _ => Reply(404, Map("x-amzn-ErrorType" -> "ResourceNotFoundException"), """{"Message":"Function not found"}""")
    try {
      for (function <- Seq("tegridy_try_tokenize", "tegridy_tokenize_result")) {
        val message = chain(intercept[Exception](spark.sql(s"SELECT $function(v) FROM named").collect()))
        assert(message.contains(s"$function failed") && !message.contains("tegridy_tokenize_hp failed"), message)
      }
      val pii = chain(intercept[Exception](spark.sql("SELECT tokenize_pii(v, kind) FROM named").collect()))
      assert(pii.contains("tokenize_pii failed"), pii)
    } finally lambda.reset()
    val map = chain(intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(m) FROM named").collect()))
    assert(map.contains("map_values") && map.contains("map_keys") && !map.contains("CAST"), map)
  }

  test("tegridy_try_tokenize and tegridy_tokenize_result take a format, and a value refused by it is a per-row NULL or error") {
    lambda.reset()
    lambda.respond = refusing("bad-1")
    val rows = spark.sql("""SELECT id, tegridy_try_tokenize(concat('bad-', id), 'ssn') AS t, tegridy_tokenize_result(concat('bad-', id), 'ssn') AS r
                            FROM range(0, 3, 1, 1)""").collect().sortBy(_.getLong(0))
    assert(rows.map(r => Option(r.getString(1))).toSeq == Seq(Some("T(bad-0)"), None, Some("T(bad-2)")))
    assert(rows(1).getStruct(2).isNullAt(0) && !rows(1).getStruct(2).isNullAt(1))
    assert(lambda.batches.toArray.nonEmpty)
  }
}
