package com.tegridy.spark.sql

import java.net.URI
import java.nio.file.Files

import scala.jdk.CollectionConverters._

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.execution.BatchTokenizeExec
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.testing.{LocalSparkSession, LogCapture}

/**
 * The SQL shapes an outside review found wrong: views, input-file state beside a call, LIMIT,
 * planning-time calls, correlated EXISTS, and calls left row by row. Each is exact and batched,
 * and sends no more than it needs.
 */
class SqlShapesSuite extends AnyFunSuite with LocalSparkSession with LogCapture {
  private val warehouse = Files.createTempDirectory("tegridy-warehouse")
  override protected def extraConf: Map[String, String] = Map("spark.sql.warehouse.dir" -> warehouse.toUri.toString)

  private def stats(): TegridyStats = TegridyAccumulator.forContext(spark.sparkContext).value.copy()
  private def batched(df: org.apache.spark.sql.DataFrame): Boolean =
    df.queryExecution.executedPlan.collectWithSubqueries { case b: BatchTokenizeExec => b }.nonEmpty ||
      df.queryExecution.executedPlan.toString.contains("BatchTokenize")

  /** Every row's token is the fake's token of its value; the plan batches; returns the row count. */
  private def exact(df: org.apache.spark.sql.DataFrame, value: Long => String): Long = {
    val rows = df.collect()
    rows.foreach(r => assert(r.getString(1) == s"T(${value(r.getLong(0))})", s"row ${r.getLong(0)}"))
    rows.length.toLong
  }

  test("temp view, global temp view and CACHE TABLE AS: settings travel with the view, exact and batched") {
    lambda.reset()
    spark.sql("CREATE OR REPLACE TEMP VIEW tv AS SELECT id, tegridy_tokenize_hp(concat('tv-', id % 20)) AS t FROM range(0, 200, 1, 2)")
    val tv = spark.sql("SELECT * FROM tv")
    assert(exact(tv, id => s"tv-${id % 20}") == 200 && batched(tv))
    spark.sql("CREATE OR REPLACE GLOBAL TEMP VIEW gv AS SELECT id, tegridy_tokenize_hp(concat('gv-', id)) AS t FROM range(0, 100, 1, 2)")
    val gv = spark.sql("SELECT * FROM global_temp.gv")
    assert(exact(gv, id => s"gv-$id") == 100 && batched(gv))
    spark.sql("CACHE TABLE ct AS SELECT id, tegridy_tokenize_hp(concat('ct-', id)) AS t FROM range(0, 100, 1, 2)")
    assert(exact(spark.sql("SELECT * FROM ct"), id => s"ct-$id") == 100)
    assert(lambda.invocations.get() <= 3 * 2, "one or two batches per partition")
  }

  test("a persistent view over a parquet table calls the function it was created with") {
    lambda.reset()
    val dir = Files.createTempDirectory("tegridy-pv").resolve("people").toString
    spark.range(0, 300, 1, 3).selectExpr("id", "concat('pv-', id) AS email").write.parquet(dir)
    spark.sql(s"CREATE TABLE people_pv USING parquet LOCATION '$dir'")
    spark.sql("CREATE OR REPLACE VIEW tokens_pv AS SELECT id, tegridy_tokenize_hp(email) AS t FROM people_pv")
    withConf("spark.tegridy.lambda.functionName" -> "another-function") {
      val df = spark.sql("SELECT * FROM tokens_pv")
      assert(exact(df, id => s"pv-$id") == 300 && batched(df))
    }
    assert(lambda.functionsCalled.asScala.toSet == Set(lambda.functionName), "the view keeps its function name")
  }

  // Both of BatchTokenizeExec's paths: rows emitted from generated code, and from its iterator.
  for (codegen <- Seq(true, false)) test(s"input_file_name() and the other input-state expressions beside a call see each row's own file (codegen $codegen)") {
    lambda.reset()
    val dir = Files.createTempDirectory("tegridy-files").resolve("t").toString
    spark.range(0, 4000, 1, 4).selectExpr("id", "concat('file-', id) AS v").write.parquet(dir)
    withConf("spark.tegridy.cache.maxEntries" -> "0", "spark.sql.files.openCostInBytes" -> "0",
        "spark.sql.codegen.wholeStage" -> codegen.toString, "spark.sql.codegen.fallback" -> (!codegen).toString) {
      val df = spark.sql(s"""SELECT id, tegridy_tokenize_hp(v) AS t, input_file_name() AS f, _metadata.file_path AS p,
                                    input_file_block_start() AS s, input_file_block_length() AS l
                             FROM parquet.`$dir`""")
      val rows = df.collect()
      assert(rows.length == 4000 && batched(df))
      rows.foreach { r =>
        assert(r.getString(1) == s"T(file-${r.getLong(0)})")
        assert(new URI(r.getString(2)).getPath == new URI(r.getString(3)).getPath, s"row ${r.getLong(0)}")
        assert(r.getLong(5) > 0)
      }
      assert(rows.map(_.getString(3)).distinct.length == 4)
      // spark_partition_id and monotonically_increasing_id are evaluated in output order: unchanged by the call.
      val withCall = spark.sql(s"SELECT id, spark_partition_id() AS p, monotonically_increasing_id() AS m, tegridy_tokenize_hp(v) FROM parquet.`$dir`")
        .collect().map(r => r.getLong(0) -> (r.getInt(1), r.getLong(2))).toMap
      val without = spark.sql(s"SELECT id, spark_partition_id() AS p, monotonically_increasing_id() AS m FROM parquet.`$dir`")
        .collect().map(r => r.getLong(0) -> (r.getInt(1), r.getLong(2))).toMap
      assert(withCall == without)
    }
  }

  test("LIMIT, take and show send about what they show, not the read-ahead buffer") {
    withConf("spark.tegridy.cache.maxEntries" -> "0") {
      lambda.reset()
      val rows = spark.sql("SELECT tegridy_tokenize_hp(concat('limit10-', id)) FROM range(0, 20000, 1, 4) LIMIT 10").collect()
      assert(rows.length == 10)
      val sent = lambda.sentValues.size
      assert(sent <= 10 + 500, s"LIMIT 10 sent $sent values")
      lambda.reset()
      val taken = spark.sql("SELECT tegridy_tokenize_hp(concat('take-', id)) AS t FROM range(0, 20000, 1, 4)").take(1)
      assert(taken.length == 1 && lambda.sentValues.size <= 1 + 500)
      lambda.reset()
      // A filter above the call: the read-ahead grows until enough rows pass it.
      val filtered = spark.sql("""SELECT t FROM (SELECT tegridy_tokenize_hp(concat('grow-', id)) AS t FROM range(0, 20000, 1, 4))
                                  WHERE t LIKE 'T(grow-%5)' LIMIT 20""").collect()
      assert(filtered.length == 20 && lambda.sentValues.size <= 4 * 200 + 500, s"sent ${lambda.sentValues.size}")
      logSent("LIMIT 10", sent)
    }
  }

  test("EXPLAIN and constant folding never call the service; VALUES rows are sent batched at execution") {
    lambda.reset()
    spark.sql("EXPLAIN EXTENDED SELECT tegridy_tokenize_hp('literal-value')").collect()
    spark.sql("EXPLAIN SELECT tegridy_tokenize_hp(x) FROM VALUES ('values-a'), ('values-b') AS v(x)").collect()
    spark.sql("SELECT tegridy_tokenize_hp(x) FROM VALUES ('values-a'), ('values-b') AS v(x)").queryExecution.optimizedPlan
    assert(lambda.invocations.get() == 0)
    val values = spark.sql("SELECT tegridy_tokenize_hp(x) FROM VALUES ('values-a'), ('values-b'), ('values-c') AS v(x)")
    assert(values.collect().map(_.getString(0)).toSeq == Seq("T(values-a)", "T(values-b)", "T(values-c)"))
    assert(lambda.sentValues.size == 3 && lambda.invocations.get() <= values.rdd.getNumPartitions, "one batch per partition")
    assert(spark.sql("SELECT tegridy_tokenize_hp('literal-value')").collect().head.getString(0) == "T(literal-value)")
  }

  test("correlated EXISTS batches like the IN form") {
    withConf("spark.tegridy.cache.maxEntries" -> "0") {
      spark.range(0, 2000, 1, 2).selectExpr("id", "concat('T(ex-', id % 500, ')') AS token").createOrReplaceTempView("outer_rows")
      spark.range(0, 1000, 1, 2).selectExpr("concat('ex-', id) AS email").createOrReplaceTempView("inner_rows")
      lambda.reset()
      val in = spark.sql("SELECT count(*) FROM outer_rows WHERE token IN (SELECT tegridy_tokenize_hp(email) FROM inner_rows)")
      assert(in.collect().head.getLong(0) == 2000)
      val inCalls = lambda.invocations.get()
      lambda.reset()
      val exists = spark.sql("""SELECT count(*) FROM outer_rows o
                                WHERE EXISTS (SELECT 1 FROM inner_rows i WHERE tegridy_tokenize_hp(i.email) = o.token)""")
      assert(exists.collect().head.getLong(0) == 2000)
      val existsCalls = lambda.invocations.get()
      assert(batched(exists))
      assert(existsCalls <= 2 * inCalls, s"EXISTS made $existsCalls invocations, IN $inCalls")
      info(s"invocations: IN $inCalls, EXISTS $existsCalls")
    }
  }

  test("transform(arr, x -> call(x)) batches its elements across rows") {
    withConf("spark.tegridy.cache.maxEntries" -> "0") {
      lambda.reset()
      val df = spark.sql("SELECT id, transform(array(concat('tr-', id), concat('tr2-', id), NULL), x -> tegridy_tokenize_hp(x)) AS t " +
        "FROM range(0, 1000, 1, 2)")
      val rows = df.collect()
      assert(rows.forall(r => r.getSeq[String](1) == Seq(s"T(tr-${r.getLong(0)})", s"T(tr2-${r.getLong(0)})", null)))
      assert(batched(df) && lambda.sentValues.size == 2000)
      assert(lambda.invocations.get() <= 2 * 4 + 2, s"${lambda.invocations.get()} invocations for 2000 elements")
      info(s"transform over 1000 rows x 2 elements: ${lambda.invocations.get()} invocations")
    }
  }

  test("a call left row by row is counted in rows_unbatched and named once in a WARN, with no value") {
    val before = stats()
    captured.clear()
    val df = spark.sql("""SELECT aggregate(array(concat('CANARY-unbatched-', id)), '', (acc, x) -> tegridy_tokenize_hp(concat(acc, x))) AS kept
                          FROM range(0, 40, 1, 2)""")
    assert(df.collect().length == 40)
    assert(stats().get(Counter.RowsUnbatched) - before.get(Counter.RowsUnbatched) == 40)
    val warnings = captured.asScala.filter(line => line.startsWith("WARN") && line.contains("evaluated row by row")).toSeq
    assert(warnings.size == 1, warnings.mkString("\n"))
    assert(warnings.head.contains("tegridy_tokenize_hp") && warnings.head.contains("lambda variable"))
    assert(!captured.asScala.exists(_.contains("CANARY-unbatched")))
  }

  test("tegridy_metrics() gives the session's figures from SQL") {
    spark.sql("SELECT tegridy_tokenize_hp(concat('m-', id)) FROM range(0, 10, 1, 1)").collect()
    val row = spark.sql("SELECT invocations, rows, latency_ms_p50 FROM tegridy_metrics()").collect().head
    val now = stats()
    assert(row.getLong(0) == now.get(Counter.Invocations) && row.getLong(1) == now.get(Counter.Rows))
    assert(row.getDouble(2) > 0)
  }

  private def logSent(what: String, sent: Int): Unit = info(s"$what: $sent values sent")
}
