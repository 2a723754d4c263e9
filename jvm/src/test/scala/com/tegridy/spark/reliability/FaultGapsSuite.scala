package com.tegridy.spark.reliability

import java.util.concurrent.ConcurrentHashMap

import scala.jdk.CollectionConverters._

import org.apache.spark.TaskContext
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.TegridyRuntime
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}
import com.tegridy.spark.testing.FakeLambda.Reply

/**
 * The fault gaps found from outside: a service speaking the seeds' protocol (no `retryable`
 * flag), figures lost with a failed query, onError=null hiding an outage, runtimes piling up.
 */
class FaultGapsSuite extends AnyFunSuite with LocalSparkSession {
  override protected def master: String = "local[2,4]" // a failed task is retried, as on a cluster

  private val Rows = 600
  private def query(tag: String): String = s"SELECT id, tegridy_tokenize_hp(concat('$tag-', id)) AS t FROM range(0, $Rows, 1, 2)"
  private def stats(): TegridyStats = TegridyAccumulator.forContext(spark.sparkContext).value.copy()
  private def chain(e: Throwable): Seq[Throwable] = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).toSeq

  /** The seeds' item failure: no `retryable` field. */
  private def seedBody(values: Seq[String], fails: String => Boolean): String =
    values.map { v =>
      if (fails(v)) """{"success":false,"error":"vault conflict"}"""
      else s"""{"success":true,"token":"${lambda.tokenFor(v)}","data":"$v"}"""
    }.mkString("""{"responses":[""", ",", "]}")

  private def fresh[T](settings: (String, String)*)(body: => T): T = {
    lambda.reset()
    withConf((Seq("spark.tegridy.batch.maxRows" -> "50", "spark.tegridy.cache.maxEntries" -> "0") ++ settings): _*)(body)
  }

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    spark.udf.register("fail_after_first_rows", (id: Long) => {
      val task = TaskContext.get()
      if (task.attemptNumber() == 0 && task.partitionId() == 0 && id == 250) throw new RuntimeException("injected task failure")
      id
    })
  }

  test("seed protocol: 3% of items fail once with no retryable flag; the output is exact") {
    fresh() {
      val seen = ConcurrentHashMap.newKeySet[String]()
      lambda.respond = values => Reply(200, Map.empty, seedBody(values, v => math.abs(v.hashCode) % 33 == 0 && seen.add(v)))
      val before = stats()
      val rows = spark.sql(query("seed")).collect()
      assert(rows.forall(r => r.getString(1) == s"T(seed-${r.getLong(0)})"))
      assert(seen.size > 0 && stats().get(Counter.RetriesItem) - before.get(Counter.RetriesItem) > 0)
    }
  }

  test("seed protocol: one item failing every time, no flag: onError=fail names the count, onError=null one NULL") {
    val poison = "perm-123"
    fresh() {
      lambda.respond = values => Reply(200, Map.empty, seedBody(values, _ == poison))
      val error = intercept[Exception](spark.sql(query("perm")).collect())
      val message = chain(error).map(_.getMessage).mkString(" | ")
      assert(message.contains("failed for 1 value(s)") && message.contains("spark.tegridy.onError=null"))
      assert(!message.contains(poison))
    }
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = values => Reply(200, Map.empty, seedBody(values, _ == poison))
      val rows = spark.sql(query("perm")).collect()
      assert(rows.count(_.isNullAt(1)) == 1 && rows.find(_.isNullAt(1)).get.getLong(0) == 123)
    }
  }

  test("a query that fails after retries still reports its retries by cause and its invocations") {
    fresh("spark.tegridy.retry.maxAttempts" -> "3") {
      lambda.respond = _ => FakeLambda.serverError(503)
      val before = stats()
      intercept[Exception](spark.sql(query("down")).collect())
      val after = stats()
      def delta(c: Counter) = after.get(c) - before.get(c)
      // Spark drops a failed task's figures unless told otherwise (then this would be 0). The fake's own
      // count is no exact bound: a call aborted as the job ends is counted here but may never reach it.
      assert(delta(Counter.Invocations) >= 3 && lambda.invocations.get() >= 3)
      assert(delta(Counter.Retries) > 0 && delta(Counter.RetriesServerError) == delta(Counter.Retries))
      assert(errorsOnceHeard(before) > 0)
      assert(delta(Counter.Rows) == 0, "failed tasks' rows are not counted")
    }
  }

  test("a task retried after its rows were tokenized counts its rows once and every invocation") {
    fresh() {
      val before = stats()
      val rows = spark.sql(s"SELECT fail_after_first_rows(id) AS id, tegridy_tokenize_hp(concat('retry-', id)) AS t " +
        s"FROM range(0, $Rows, 1, 2)").collect()
      assert(rows.length == Rows && rows.forall(r => r.getString(1) == s"T(retry-${r.getLong(0)})"))
      val after = stats()
      assert(after.get(Counter.Rows) - before.get(Counter.Rows) == Rows)
      // Every invocation the service saw is counted, the failed attempt's included (a call aborted as that
      // attempt ended may be counted without having reached the service).
      assert(after.get(Counter.Invocations) - before.get(Counter.Invocations) >= lambda.invocations.get())
    }
  }

  private def errors(s: TegridyStats): Double = s.asMap.getOrElse("errors", -1.0)
  private def refusing(poison: String): Seq[String] => Reply = values => Reply(200, Map.empty, values.map { v =>
    if (v == poison) """{"success":false,"retryable":false,"error":"refused"}"""
    else s"""{"success":true,"token":"${lambda.tokenFor(v)}","data":"$v"}"""
  }.mkString("""{"responses":[""", ",", "]}"))

  test("errors counts a value that ended as NULL once, though its task ran twice") {
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = refusing("twice-7")
      val before = stats()
      val rows = spark.sql(s"SELECT fail_after_first_rows(id) AS id, tegridy_tokenize_hp(concat('twice-', id)) AS t " +
        s"FROM range(0, $Rows, 1, 2)").collect()
      assert(rows.count(_.isNullAt(1)) == 1)
      assert(errors(stats()) - errors(before) == 1)
    }
  }

  test("errors counts the failing values of a failed query once, whatever its task attempts") {
    fresh() {
      lambda.respond = refusing("failed-7")
      val before = stats()
      val error = intercept[Exception](spark.sql(query("failed")).collect())
      assert(chain(error).exists(e => String.valueOf(e.getMessage).contains("failed for 1 value(s)")))
      assert(errorsOnceHeard(before) == 1)
    }
  }

  /**
   * The `errors` counted since `before`, once the driver has heard the failed job's end: it counts a
   * failed query's values from the job's error, which its listener hears a moment after the error.
   */
  private def errorsOnceHeard(before: TegridyStats): Double = {
    val deadline = System.nanoTime() + 30L * 1000 * 1000 * 1000
    while (errors(stats()) - errors(before) < 1 && System.nanoTime() < deadline) Thread.sleep(50)
    Thread.sleep(500) // a second count, if any, would come with the first
    errors(stats()) - errors(before)
  }

  test("onError=null never hides an outage: the service down fails the query, naming the endpoint") {
    val down = new FakeLambda()
    val endpoint = down.endpoint
    down.close()
    fresh("spark.tegridy.onError" -> "null", "spark.tegridy.lambda.endpoint" -> endpoint, "spark.tegridy.retry.maxAttempts" -> "2") {
      val error = intercept[Exception](spark.sql(query("outage")).collect())
      val message = chain(error).map(_.getMessage).mkString(" | ")
      assert(message.contains(endpoint) && message.contains("whatever spark.tegridy.onError says"))
      assert(!message.contains("Set spark.tegridy.onError=null"))
    }
    fresh("spark.tegridy.onError" -> "null", "spark.tegridy.retry.maxAttempts" -> "2") {
      lambda.respond = _ => Reply(404, Map("x-amzn-ErrorType" -> "ResourceNotFoundException"), """{"Message":"Function not found"}""")
      val error = intercept[Exception](spark.sql(query("missing")).collect())
      assert(chain(error).exists(_.getMessage.contains("the function does not exist")))
    }
    fresh("spark.tegridy.onError" -> "null") {
      // Every call crashes: a failure one value could cause, but no value was ever answered.
      lambda.respond = _ => FakeLambda.functionError("Unhandled", "Runtime.ImportModuleError")
      withConf("spark.tegridy.retry.maxAttempts" -> "1", "spark.tegridy.batch.maxRows" -> "4") {
        val error = intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(concat('crash-', id)) FROM range(0, 8, 1, 1)").collect())
        assert(chain(error).exists(_.getMessage.contains("the service answered no other value")))
      }
    }
  }

  test("changing settings 50 times leaves a handful of runtimes and their threads released") {
    fresh() {
      val leasedElsewhere = TegridyRuntime.openCount // other suites' runtimes that their tests still hold
      def invokers = Thread.getAllStackTraces.keySet.asScala.count(t => t.isAlive && t.getName.startsWith("tegridy-invoke-"))
      val threadsBefore = invokers
      (1 to 50).foreach { i =>
        withConf("spark.tegridy.timeoutMs" -> (20000 + i).toString) {
          spark.sql(s"SELECT tegridy_tokenize_hp(concat('conf-$i-', id)) FROM range(0, 4, 1, 1)").collect()
        }
      }
      assert(TegridyRuntime.openCount <= leasedElsewhere + 4, s"${TegridyRuntime.openCount} runtimes open")
      // Each query uses one thread of its runtime; closed runtimes' threads are gone.
      assert(invokers - threadsBefore <= 4 * 2, s"${invokers - threadsBefore} more invocation threads alive")
    }
  }
}
