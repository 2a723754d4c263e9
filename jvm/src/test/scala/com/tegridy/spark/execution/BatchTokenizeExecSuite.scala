package com.tegridy.spark.execution

import java.util.concurrent.{CountDownLatch, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{AttributeReference, BoundReference}
import org.apache.spark.sql.types.StringType
import org.apache.spark.unsafe.types.UTF8String
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.config.{Settings, TegridyConf}
import com.tegridy.spark.expressions.TegridyTokenizeExpression
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.runtime.TegridyRuntime
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}

/** The batching operator against a fake Lambda: order, splitting, cache, single-flight, memory. */
class BatchTokenizeExecSuite extends AnyFunSuite with LocalSparkSession {

  private def tokens(n: Int, prefix: String): Seq[String] = (0 until n).map(i => f"$prefix$i%06d")

  test("rows keep their order when answers come back out of order") {
    lambda.reset()
    lambda.jitterMs = 30
    withConf("spark.tegridy.batch.maxRows" -> "5", "spark.tegridy.cache.maxEntries" -> "0") {
      val rows = spark.sql("SELECT id, tegridy_tokenize_hp(concat('order-', id)) AS t FROM range(0, 600, 1, 1)").collect()
      assert(rows.map(_.getLong(0)).toSeq == (0L until 600L))
      assert(rows.forall(r => r.getString(1) == s"T(order-${r.getLong(0)})"))
    }
    assert(lambda.maxConcurrent.get() > 1, "batches were not in flight together")
  }

  test("batches split by rows, each distinct value sent once") {
    lambda.reset()
    withConf("spark.tegridy.batch.maxRows" -> "7", "spark.tegridy.cache.maxEntries" -> "0") {
      spark.sql("SELECT tegridy_tokenize_hp(concat('rows-', id % 100)) FROM range(0, 300, 1, 1)").collect()
    }
    val sizes = lambda.batches.toArray.toSeq.map(_.asInstanceOf[Seq[String]].size)
    assert(sizes.forall(_ <= 7))
    assert(lambda.sentValues.size == 100 && lambda.sentValues.toSet.size == 100)
    assert(sizes.size == 15) // ceil(100 / 7)
  }

  test("batches split by serialized bytes, never over batch.maxBytes") {
    lambda.reset()
    withConf("spark.tegridy.batch.maxBytes" -> "2048", "spark.tegridy.cache.maxEntries" -> "0") {
      spark.sql("SELECT tegridy_tokenize_hp(concat(repeat('é', 100), id)) FROM range(0, 200, 1, 1)").collect()
    }
    val sizes = lambda.requestBytes.toArray.toSeq.map(_.asInstanceOf[Int])
    assert(sizes.nonEmpty && sizes.forall(_ <= 2048), sizes.max)
    assert(sizes.size >= 200 * 210 / 2048) // they really were split
    assert(lambda.sentValues.size == 200)
  }

  test("a value too large for one invocation fails clearly without being sent") {
    lambda.reset()
    withConf("spark.tegridy.batch.maxBytes" -> "1024", "spark.tegridy.onError" -> "null") {
      val rows = spark.sql("""SELECT tegridy_tokenize_hp(IF(id = 0, repeat('z', 5000), 'small')) AS t
                             |FROM range(0, 2, 1, 1) ORDER BY id""".stripMargin).collect()
      assert(rows(0).isNullAt(0) && rows(1).getString(0) == "T(small)")
      // The same on the row-by-row path (a literal argument is evaluated there).
      val direct = spark.sql("SELECT tegridy_tokenize_hp(repeat('y', 5000)) AS big").collect().head
      assert(direct.isNullAt(0))
    }
    assert(!lambda.sentValues.exists(v => v.startsWith("zzz") || v.startsWith("yyy")))
  }

  test("the executor cache answers a value the second time") {
    lambda.reset()
    val query = "SELECT tegridy_tokenize_hp(concat('cache-', id % 50)) FROM range(0, 1000, 1, 2)"
    spark.sql(query).collect()
    val first = lambda.invocations.get()
    spark.sql(query).collect()
    assert(first >= 1 && lambda.invocations.get() == first)
    assert(lambda.sentValues.size == 50)
  }

  test("two tasks needing the same values share one request (single-flight)") {
    lambda.reset()
    withConf("spark.tegridy.cache.maxEntries" -> "0") {
      val conf = TegridyConf.from(Map(Settings.FunctionName.key -> lambda.functionName,
        Settings.DetokenizeFunctionName.key -> detokenizeFunctionName,
        Settings.Endpoint.key -> lambda.endpoint, Settings.CacheMaxEntries.key -> "0"))
      val runtime = TegridyRuntime.acquire(conf)
      val sharedBefore = runtime.sharedClaimCount
      // Answer only once the second task has joined the first task's request for all 200 values.
      lambda.respond = values => {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (runtime.sharedClaimCount - sharedBefore < 200 && System.nanoTime() < deadline) Thread.sleep(10)
        FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
      }
      // Two partitions holding the same 200 values.
      val rows = spark.sql("SELECT tegridy_tokenize_hp(concat('sf-', id % 200)) AS t FROM range(0, 400, 1, 2)").collect()
      assert(rows.map(_.getString(0)).toSet.size == 200)
      assert(lambda.sentValues.size == 200, "the second task sent its own request")
      assert(runtime.sharedClaimCount - sharedBefore == 200)
    }
  }

  test("the row buffer is bounded: a slow service holds back the input instead of buffering it") {
    lambda.reset()
    val gate = new CountDownLatch(1)
    lambda.respond = values => { gate.await(60, TimeUnit.SECONDS); FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values)) }
    val conf = TegridyConf.from(Map(Settings.FunctionName.key -> lambda.functionName, Settings.Endpoint.key -> lambda.endpoint,
      Settings.BatchMaxRows.key -> "50", Settings.MaxInFlight.key -> "2", Settings.CacheMaxEntries.key -> "0"))
    val (rowCap, _) = TokenizeTask.bufferLimits(TegridyRuntime.acquire(conf))
    val consumed = new AtomicLong()
    val input = Iterator.range(0, 5000).map { i =>
      consumed.incrementAndGet()
      InternalRow(UTF8String.fromString(s"slow-$i"))
    }
    val column = AttributeReference("v", StringType)()
    val call = TegridyTokenizeExpression(BoundReference(0, StringType, nullable = true), conf, new TegridyAccumulator)
    val result = AttributeReference("t", StringType)()
    val (argument, function) = TokenCall.split(call.withNewChildren(Seq(column)))
    val task = new TokenizeTask(Seq(function), new TegridyStats, None)
    val iterator = new BatchTokenizeIterator(input, Seq(argument), task, Seq(column), Seq(column, result))
    val reader = new Thread(() => { iterator.next(); () })
    reader.start()
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
    while (consumed.get() < rowCap && System.nanoTime() < deadline) Thread.sleep(5)
    Thread.sleep(200) // had it not stopped at the cap, it would read on while the service is held
    assert(consumed.get() == rowCap, s"read ${consumed.get()} rows with a buffer of $rowCap")
    gate.countDown()
    reader.join(30000)
    var n = 1L
    while (iterator.hasNext) {
      val row = iterator.next()
      assert(row.getUTF8String(1).toString == s"T(${row.getUTF8String(0)})")
      n += 1
    }
    assert(n == 5000L)
    task.close()
  }

  test("SQL metrics on the node and the session's cumulative metrics agree with the service") {
    lambda.reset()
    val before = TegridyAccumulator.forContext(spark.sparkContext).value.copy()
    val df = spark.sql("SELECT tegridy_tokenize_hp(concat('metrics-', id % 30)) FROM range(0, 300, 1, 2)")
    df.collect()
    val node = df.queryExecution.executedPlan.collectFirst { case b: BatchTokenizeExec => b }.get
    assert(node.metrics("rows").value == 300)
    assert(node.metrics("invocations").value == lambda.invocations.get())
    assert(node.metrics("values_sent").value == lambda.sentValues.size)
    val after = TegridyAccumulator.forContext(spark.sparkContext).value
    assert(after.get(TegridyStats.Counter.Invocations) - before.get(TegridyStats.Counter.Invocations) == lambda.invocations.get())
    assert(after.get(TegridyStats.Counter.Rows) - before.get(TegridyStats.Counter.Rows) == 300)
    assert(after.latencyPercentileMs(0.5) > 0)
  }

  test("a query that stops early (LIMIT) leaves no request in flight") {
    lambda.reset()
    lambda.jitterMs = 20
    withConf("spark.tegridy.cache.maxEntries" -> "0", "spark.tegridy.batch.maxRows" -> "10") {
      val rows = spark.sql("SELECT tegridy_tokenize_hp(concat('limit-', id)) FROM range(0, 100000, 1, 1) LIMIT 3").collect()
      assert(rows.length == 3)
      val conf = TegridyConf.from(Map(Settings.FunctionName.key -> lambda.functionName, Settings.Endpoint.key -> lambda.endpoint,
        Settings.DetokenizeFunctionName.key -> detokenizeFunctionName,
        Settings.CacheMaxEntries.key -> "0", Settings.BatchMaxRows.key -> "10"))
      val runtime = TegridyRuntime.acquire(conf)
      val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
      while (runtime.inFlightCount > 0 && System.nanoTime() < deadline) Thread.sleep(10)
      assert(runtime.inFlightCount == 0)
    }
  }
}
