package com.tegridy.spark.execution

import java.util.concurrent.{CountDownLatch, TimeUnit}
import java.util.concurrent.atomic.AtomicReference

import org.apache.spark.sql.DataFrame
import org.apache.spark.sql.execution.WholeStageCodegenExec
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}

/**
 * BatchTokenizeExec's two paths, each test run with whole-stage codegen on (rows go on from the
 * child's generated loop) and off (BatchTokenizeIterator): order, known and waiting rows
 * interleaved, LIMIT, cancellation, and which path the plan really took.
 */
class TokenizePathsSuite extends AnyFunSuite with LocalSparkSession {

  private def inCodegen(df: DataFrame): Boolean =
    df.queryExecution.executedPlan.collect { case stage: WholeStageCodegenExec => stage }
      .exists(_.child.find(_.isInstanceOf[BatchTokenizeExec]).nonEmpty)

  private def stats(): TegridyStats = TegridyAccumulator.forContext(spark.sparkContext).value.copy()

  private def hasExec(df: DataFrame): Boolean =
    df.queryExecution.executedPlan.find(_.isInstanceOf[BatchTokenizeExec]).nonEmpty

  /**
   * Runs `body` with whole-stage codegen on or off. On, a stage whose generated code does not
   * compile fails the query instead of quietly running without codegen.
   */
  private def onPath[T](codegen: Boolean)(body: => T): T =
    withConf("spark.sql.codegen.wholeStage" -> codegen.toString, "spark.sql.codegen.fallback" -> (!codegen).toString)(body)

  private def query(sql: String, codegen: Boolean): DataFrame = {
    val df = spark.sql(sql)
    assert(hasExec(df), "the calls were not batched")
    assert(inCodegen(df) == codegen, s"BatchTokenizeExec in whole-stage codegen: ${inCodegen(df)}\n${df.queryExecution.executedPlan}")
    df
  }

  for (codegen <- Seq(true, false)) {
    val mode = if (codegen) "codegen on" else "codegen off"
    val tag = if (codegen) "on" else "off"

    test(s"the plan holds BatchTokenizeExec inside whole-stage codegen only when it is on ($mode)") {
      onPath(codegen) {
        val df = query(s"SELECT id, tegridy_tokenize_hp(concat('plan-$tag-', id)) AS t FROM range(0, 10, 1, 1)", codegen)
        val explained = df.queryExecution.executedPlan.toString
        // EXPLAIN marks an operator compiled into stage n with "*(n)"; it never shows settings.
        assert(explained.linesIterator.exists(l => l.contains("BatchTokenize") && l.contains("*(")) == codegen, explained)
        assert(!explained.contains(lambda.endpoint))
        assert(df.collect().forall(r => r.getString(1) == s"T(plan-$tag-${r.getLong(0)})"))
      }
    }

    test(s"rows keep their order when batches are answered out of order, with varying delays ($mode)") {
      lambda.reset()
      // Some batches are held back longer than the ones sent after them.
      lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values), delayMs = (values.head.hashCode & 3) * 15)
      onPath(codegen) {
        withConf("spark.tegridy.batch.maxRows" -> "7", "spark.tegridy.cache.maxEntries" -> "0") {
          val rows = query(s"SELECT id, tegridy_tokenize_hp(concat('ooo-$tag-', id % 450)) AS t FROM range(0, 900, 1, 1)", codegen).collect()
          assert(rows.map(_.getLong(0)).toSeq == (0L until 900L))
          assert(rows.forall(r => r.getString(1) == s"T(ooo-$tag-${r.getLong(0) % 450})"))
        }
      }
      assert(lambda.maxConcurrent.get() > 1, "batches were not in flight together")
      assert(lambda.sentValues.size == 450 && lambda.sentValues.toSet.size == 450)
    }

    test(s"rows already known and rows that must wait, interleaved, come out in order ($mode)") {
      lambda.reset()
      onPath(codegen) {
        withConf("spark.tegridy.batch.maxRows" -> "16") {
          // The cache knows every even value; the odd ones are sent, in batches answered with jitter.
          spark.sql(s"SELECT tegridy_tokenize_hp(concat('mix-$tag-', id * 2)) FROM range(0, 500, 1, 1)").collect()
          lambda.reset()
          lambda.jitterMs = 20
          val df = query(s"""SELECT id, tegridy_tokenize_hp(concat('mix-$tag-', id)) AS t,
                            |       tegridy_tokenize_hp(concat('mix-$tag-', id * 2)) AS known
                            |FROM range(0, 1000, 1, 1)""".stripMargin, codegen)
          val rows = df.collect()
          assert(rows.map(_.getLong(0)).toSeq == (0L until 1000L))
          assert(rows.forall(r => r.getString(1) == s"T(mix-$tag-${r.getLong(0)})"))
          assert(rows.forall(r => r.getString(2) == s"T(mix-$tag-${r.getLong(0) * 2})"))
        }
      }
      // Only the odd values below 1000 were unknown, plus the even ones between 1000 and 2000.
      val sent = lambda.sentValues
      assert(sent.size == sent.toSet.size)
      assert(sent.toSet == ((1L until 1000L by 2) ++ (1000L until 2000L by 2)).map(i => s"mix-$tag-$i").toSet)
    }

    test(s"NULL, blank, array and STRUCT-result calls keep their rows in order ($mode)") {
      lambda.reset()
      lambda.jitterMs = 10
      onPath(codegen) {
        withConf("spark.tegridy.batch.maxRows" -> "5", "spark.tegridy.onError" -> "null") {
          val df = spark.sql(
            s"""SELECT id,
               |  tegridy_tokenize_hp(IF(id % 3 = 0, NULL, IF(id % 3 = 1, ' ', concat('shape-$tag-', id)))) AS t,
               |  tegridy_tokenize_hp(array(concat('arr-$tag-', id % 7), NULL)) AS a,
               |  tegridy_tokenize_result(concat('res-$tag-', id % 11)) AS r
               |FROM range(0, 200, 1, 1)""".stripMargin)
          assert(hasExec(df) && inCodegen(df) == codegen)
          val rows = df.collect()
          assert(rows.map(_.getLong(0)).toSeq == (0L until 200L))
          rows.foreach { r =>
            val id = r.getLong(0)
            id % 3 match {
              case 0 => assert(r.isNullAt(1))
              case 1 => assert(r.getString(1) == " ")
              case _ => assert(r.getString(1) == s"T(shape-$tag-$id)")
            }
            assert(r.getSeq[String](2) == Seq(s"T(arr-$tag-${id % 7})", null))
            assert(r.getStruct(3).getString(0) == s"T(res-$tag-${id % 11})" && r.getStruct(3).isNullAt(1))
          }
        }
      }
      assert(!lambda.sentValues.exists(_.trim.isEmpty))
    }

    test(s"once the answers are in, rows stop waiting: only those read meanwhile are copied ($mode)") {
      lambda.reset()
      lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values), delayMs = 200)
      val before = stats()
      onPath(codegen) {
        // The FIFO's bound here: max(1024, 2 x batch.maxRows x maxInFlight) = 1024 rows.
        withConf("spark.tegridy.batch.maxRows" -> "10", "spark.tegridy.maxInFlight" -> "2") {
          val rows = query(s"SELECT id, tegridy_tokenize_hp(concat('settle-$tag-', id % 5)) AS t FROM range(0, 30000, 1, 1)",
            codegen).collect()
          assert(rows.map(_.getLong(0)).toSeq == (0L until 30000L))
          assert(rows.forall(r => r.getString(1) == s"T(settle-$tag-${r.getLong(0) % 5})"))
        }
      }
      val waited = stats().get(Counter.RowsWaited) - before.get(Counter.RowsWaited)
      // Before the FIFO drained ahead of reading on, each later row went in as one came out: all 30,000 waited.
      assert(waited >= 1 && waited <= 1100, s"$waited of 30,000 rows waited")
      assert(lambda.sentValues.size == 5)
    }

    test(s"LIMIT stops early without sending the rest ($mode)") {
      lambda.reset()
      onPath(codegen) {
        withConf("spark.tegridy.cache.maxEntries" -> "0", "spark.tegridy.batch.maxRows" -> "10") {
          // A filter on the result keeps the call below the LIMIT, whose read-ahead it must then cap.
          val df = query(s"""SELECT id, t FROM (SELECT id, tegridy_tokenize_hp(concat('lim-$tag-', id)) AS t
                              FROM range(0, 100000, 1, 1)) WHERE t IS NOT NULL LIMIT 10""", codegen)
          val rows = df.collect()
          assert(rows.map(_.getLong(0)).toSeq == (0L until 10L))
          assert(rows.forall(r => r.getString(1) == s"T(lim-$tag-${r.getLong(0)})"))
        }
      }
      // The filter's call and the projection's are two nodes, each capped (the cache is off here).
      val sent = lambda.sentValues.distinct.size
      assert(sent >= 10 && sent <= 20, s"$sent distinct values sent for LIMIT 10")
    }

    test(s"a job cancelled mid-flight leaves no task stuck, and the next query is exact ($mode)") {
      lambda.reset()
      val gate = new CountDownLatch(1)
      lambda.respond = values => { gate.await(60, TimeUnit.SECONDS); FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values)) }
      val group = s"cancel-$tag"
      val failure = new AtomicReference[Throwable]()
      try {
        onPath(codegen) {
          withConf("spark.tegridy.cache.maxEntries" -> "0", "spark.tegridy.batch.maxRows" -> "50") {
            val sql = s"SELECT id, tegridy_tokenize_hp(concat('cancel-$tag-', id % 3000)) AS t FROM range(0, 6000, 1, 2)"
            query(sql, codegen)
            val runner = new Thread(() => {
              spark.sparkContext.setJobGroup(group, "cancelled by the test", interruptOnCancel = true)
              try spark.sql(sql).collect() catch { case e: Throwable => failure.set(e) }
              ()
            })
            runner.start()
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            while (lambda.invocations.get() == 0 && System.nanoTime() < deadline) Thread.sleep(10)
            assert(lambda.invocations.get() > 0, "the query never called the service")
            spark.sparkContext.cancelJobGroup(group)
            runner.join(60000)
            assert(!runner.isAlive, "the cancelled query did not return")
            assert(failure.get() != null, "the cancelled query returned rows")
            // Every task thread lets go of our code, although the service still holds its calls.
            while (tasksInOurCode.nonEmpty && System.nanoTime() < deadline) Thread.sleep(20)
            assert(tasksInOurCode.isEmpty, s"threads still in BatchTokenizeExec: ${tasksInOurCode.mkString(", ")}")
            gate.countDown()
            lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
            val rows = query(sql, codegen).collect()
            assert(rows.map(_.getLong(0)).toSeq == (0L until 6000L))
            assert(rows.forall(r => r.getString(1) == s"T(cancel-$tag-${r.getLong(0) % 3000})"))
          }
        }
      } finally gate.countDown()
    }
  }

  // Where a task thread runs our code (the fake's threads run this suite's code, not these).
  private val OurTaskCode = Seq("com.tegridy.spark.execution.TokenizeTask", "com.tegridy.spark.execution.BatchTokenize",
    "com.tegridy.spark.runtime.BatchCollector")

  private def tasksInOurCode: Seq[String] = {
    val stacks = Thread.getAllStackTraces
    val names = Seq.newBuilder[String]
    val it = stacks.entrySet().iterator()
    while (it.hasNext) {
      val entry = it.next()
      if (entry.getValue.exists(f => OurTaskCode.exists(f.getClassName.startsWith))) names += entry.getKey.getName
    }
    names.result()
  }
}
