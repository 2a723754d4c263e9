package com.tegridy.spark.sql

import org.apache.spark.sql.DataFrame
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.LocalSparkSession

/**
 * A LIMIT sends only what the query shows: top-N (ORDER BY ... LIMIT), a LIMIT over a window,
 * and a plain LIMIT read through `execute()` (the path of Arrow's toPandas and of Connect) call the
 * service for the rows kept, not for every row the sort, the window or each partition read.
 */
class LimitShapesSuite extends AnyFunSuite with LocalSparkSession {
  override protected def extraConf: Map[String, String] = Map("spark.tegridy.cache.maxEntries" -> "0")

  private val rows = 20000

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    spark.range(0, rows, 1, 4).selectExpr("id", "concat('v-', id) AS v").createOrReplaceTempView("t")
  }

  /** Runs the query, checks every shown row's token is its value's, and returns (rows shown, values sent, invocations). */
  private def shown(df: DataFrame, collect: DataFrame => Array[org.apache.spark.sql.Row] = _.collect()): (Int, Int, Int) = {
    lambda.reset()
    val result = collect(df)
    result.foreach(r => assert(r.getAs[String]("t") == s"T(${r.getAs[String]("v")})", s"row $r"))
    (result.length, lambda.sentValues.size, lambda.invocations.get())
  }

  private def assertSendsShown(what: String, df: DataFrame, expectedRows: Int,
      collect: DataFrame => Array[org.apache.spark.sql.Row] = _.collect()): Unit = {
    val (n, sent, invocations) = shown(df, collect)
    info(s"$what: $n rows shown, $sent values sent in $invocations invocations")
    assert(n == expectedRows)
    assert(sent <= 1.05 * n, s"$what sent $sent values for $n rows shown")
  }

  test("top-N: ORDER BY a column LIMIT 10 tokenizes the ten rows kept") {
    val desc = spark.sql("SELECT v, tegridy_tokenize_hp(v) AS t FROM t ORDER BY v DESC LIMIT 10")
    assertSendsShown("ORDER BY v DESC LIMIT 10", desc, 10)
    assert(desc.collect().map(_.getString(0)).toSeq == (0 until rows).map(i => s"v-$i").sorted.reverse.take(10))
    val byId = spark.sql("SELECT id, v, tegridy_tokenize_hp(v) AS t FROM t ORDER BY id LIMIT 10")
    assertSendsShown("ORDER BY id LIMIT 10", byId, 10)
    assert(byId.collect().map(_.getLong(0)).toSeq == (0L until 10L))
    // A computed column over the call, and an alias the ORDER BY names, both stay exact.
    val computed = spark.sql("""SELECT id AS k, v, concat(tegridy_tokenize_hp(v), '!') AS c, tegridy_tokenize_hp(v) AS t
                                FROM t ORDER BY k DESC LIMIT 10""")
    assertSendsShown("ORDER BY alias LIMIT 10 with a computed column", computed, 10)
    assert(computed.collect().forall(r => r.getString(2) == s"T(${r.getString(1)})!"))
  }

  test("a LIMIT over row_number() tokenizes only the rows the limit keeps") {
    val limited = spark.sql("""SELECT id, v, tegridy_tokenize_hp(v) AS t, row_number() OVER (ORDER BY id) AS rn
                               FROM t LIMIT 10""")
    assertSendsShown("row_number() OVER (ORDER BY id) ... LIMIT 10", limited, 10)
    assert(limited.collect().map(_.getInt(3)).toSeq == (1 to 10))
    val filtered = spark.sql("""SELECT * FROM (SELECT id, v, tegridy_tokenize_hp(v) AS t, row_number() OVER (ORDER BY id) AS rn
                                FROM t) WHERE rn <= 10""")
    assertSendsShown("row_number() ... WHERE rn <= 10", filtered, 10)
    val perGroup = spark.sql("""SELECT * FROM (SELECT id, v, tegridy_tokenize_hp(v) AS t,
                                  row_number() OVER (PARTITION BY id % 4 ORDER BY id DESC) AS rn FROM t) WHERE rn <= 2""")
    assertSendsShown("row_number() OVER (PARTITION BY ...) ... WHERE rn <= 2", perGroup, 8)
    assert(perGroup.collect().map(_.getLong(0)).sorted.toSeq == (rows - 8 until rows).map(_.toLong))
  }

  test("a plain LIMIT read through execute() (Arrow's toPandas, Connect) sends the rows kept once") {
    val df = spark.sql("SELECT v, tegridy_tokenize_hp(v) AS t FROM t LIMIT 10")
    assertSendsShown("LIMIT 10 through execute()", df, 10, d => d.rdd.collect())
    assertSendsShown("LIMIT 10 collected", df, 10)
  }

  test("a call that feeds the sort key itself tokenizes every row, and is exact") {
    val df = spark.sql("SELECT v, tegridy_tokenize_hp(v) AS t FROM t ORDER BY t LIMIT 10")
    val (n, sent, _) = shown(df)
    assert(n == 10 && sent == rows)
    assert(df.collect().map(_.getString(1)).toSeq == (0 until rows).map(i => s"T(v-$i)").sorted.take(10))
  }
}
