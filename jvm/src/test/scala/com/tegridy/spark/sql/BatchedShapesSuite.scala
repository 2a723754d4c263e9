package com.tegridy.spark.sql

import org.apache.spark.sql.DataFrame
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.testing.LocalSparkSession

/**
 * Higher-order functions and join conditions batch: a call inside filter, exists, forall, aggregate,
 * transform_values or transform_keys that reads only the lambda's element, and a join condition's
 * call that reads one side, are made in batches (rows_unbatched stays 0), and every result is exact.
 */
class BatchedShapesSuite extends AnyFunSuite with LocalSparkSession {
  override protected def extraConf: Map[String, String] = Map("spark.tegridy.cache.maxEntries" -> "0")

  private def unbatched(): Long = TegridyAccumulator.forContext(spark.sparkContext).value.get(Counter.RowsUnbatched)

  /**
   * Collects the query's last column in the order of its first (an id; ORDER BY would sample the input
   * in a job of its own, and the cache is off); checks nothing went row by row; returns it with
   * (invocations, values sent).
   */
  private def batched(what: String, df: DataFrame): (Seq[Any], Int, Int) = {
    lambda.reset()
    val before = unbatched()
    val result = df.collect().sortBy(_.getLong(0)).map(r => r.get(r.length - 1)).toSeq
    val (invocations, sent) = (lambda.invocations.get(), lambda.sentValues.size)
    info(s"$what: $invocations invocations, $sent values sent, ${unbatched() - before} rows unbatched")
    assert(unbatched() - before == 0, s"$what left rows unbatched")
    (result, invocations, sent)
  }

  private val rows = 100
  private def arrays = s"SELECT id, array(concat('a-', id), concat('b-', id), NULL) AS arr, map(concat('k-', id), concat('v-', id)) AS m FROM range(0, $rows, 1, 2)"

  test("filter, exists, forall and aggregate over a call of the element batch, and are exact") {
    val (kept, i1, s1) = batched("filter", spark.sql(s"SELECT id, filter(arr, x -> tegridy_tokenize_hp(x) LIKE 'T(a-%') FROM ($arrays)"))
    assert(kept == (0 until rows).map(i => Seq(s"a-$i")))
    assert(s1 == 2 * rows && i1 <= 4)
    val (some, _, _) = batched("exists", spark.sql(s"SELECT id, exists(arr, x -> tegridy_tokenize_hp(x) = concat('T(b-', id, ')')) FROM ($arrays)"))
    assert(some.forall(_ == true))
    val (all, _, _) = batched("forall", spark.sql(s"SELECT id, forall(arr, x -> x IS NULL OR tegridy_tokenize_hp(x) LIKE 'T(%') FROM ($arrays)"))
    assert(all.forall(_ == true))
    val (joined, _, s4) = batched("aggregate",
      spark.sql(s"SELECT id, aggregate(arr, '', (acc, x) -> concat(acc, coalesce(tegridy_tokenize_hp(x), '-'))) FROM ($arrays)"))
    assert(joined == (0 until rows).map(i => s"T(a-$i)T(b-$i)-"))
    assert(s4 == 2 * rows)
  }

  test("a guarded call inside a lambda sends only the elements its guard lets through") {
    val (kept, _, sent) = batched("filter with a guard",
      spark.sql(s"SELECT id, filter(arr, x -> x LIKE 'a-%' AND tegridy_tokenize_hp(x) IS NOT NULL) FROM ($arrays)"))
    assert(kept == (0 until rows).map(i => Seq(s"a-$i")))
    assert(sent == rows && lambda.sentValues.forall(_.startsWith("a-")))
  }

  test("transform_values and transform_keys over a call of the value or key batch, and are exact") {
    val (values, _, s1) = batched("transform_values", spark.sql(s"SELECT id, transform_values(m, (k, v) -> tegridy_tokenize_hp(v)) FROM ($arrays)"))
    assert(values == (0 until rows).map(i => Map(s"k-$i" -> s"T(v-$i)")))
    assert(s1 == rows)
    val (keys, _, _) = batched("transform_keys", spark.sql(s"SELECT id, transform_keys(m, (k, v) -> tegridy_tokenize_hp(concat(k, '/', v))) FROM ($arrays)"))
    assert(keys == (0 until rows).map(i => Map(s"T(k-$i/v-$i)" -> s"v-$i")))
    val (shaped, _, _) = batched("transform with a body around the call",
      spark.sql(s"SELECT id, transform(arr, (x, i) -> concat(i, ':', tegridy_tokenize_hp(x))) FROM ($arrays)"))
    assert(shaped == (0 until rows).map(i => Seq(s"0:T(a-$i)", s"1:T(b-$i)", null)))
  }

  test("a join condition's call that reads one side is computed below the join, on that side") {
    spark.range(0, 200, 1, 2).selectExpr("id % 20 AS g", "concat('l-', id) AS v").createOrReplaceTempView("left_side")
    spark.range(0, 200, 1, 2).selectExpr("id % 20 AS g", "concat('r-', id) AS v").createOrReplaceTempView("right_side")
    val (count, invocations, sent) = batched("join ON a.g = b.g AND tok(a.v) < tok(b.v)", spark.sql(
      """SELECT 0L, count(*) FROM left_side a JOIN right_side b
         ON a.g = b.g AND tegridy_tokenize_hp(a.v) < tegridy_tokenize_hp(b.v)"""))
    // 'T(l-' sorts before 'T(r-': every pair with equal g passes.
    assert(count == Seq(200L * 10))
    assert(sent == 400 && invocations <= 8)
  }
}
