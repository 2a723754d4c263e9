package com.tegridy.spark.reliability

import java.util.concurrent.{ConcurrentHashMap, TimeUnit}
import java.util.concurrent.atomic.AtomicInteger

import scala.collection.mutable

import org.apache.spark.TaskContext
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.TegridyRuntime
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession, LogCapture}
import com.tegridy.spark.testing.FakeLambda.Reply

/**
 * Every fault of the reliability matrix against the fake Lambda: each run's output is compared
 * with the fault-free output (T(value) for every value), or its failure is checked exactly. The
 * values carry canaries; the last test searches every captured log line for them. A table of
 * what each fault cost is printed at the end (figures, not assertions).
 */
class FaultInjectionSuite extends AnyFunSuite with LocalSparkSession with LogCapture {
  override protected def master: String = "local[2,2]" // a failed task is retried once

  private val Rows = 400
  private val CanaryPattern = "CANARY-[a-z0-9]+-[0-9]+".r
  private case class Outcome(fault: String, rate: String, outcome: String, retries: Long, bisections: Long,
      throttles: Long, wallMs: Long)
  private val matrix = mutable.ArrayBuffer[Outcome]()
  private var baselineMs = 0L

  private def value(tag: String, id: Long): String = s"CANARY-$tag-$id"
  private def query(tag: String): String =
    s"SELECT id, tegridy_tokenize_hp(concat('CANARY-', '$tag-', id)) AS t FROM range(0, $Rows, 1, 2)"

  private def stats(): TegridyStats = TegridyAccumulator.forContext(spark.sparkContext).value.copy()
  private def delta(before: TegridyStats, counter: Counter): Long = stats().get(counter) - before.get(counter)

  /** Runs the tag's query; asserts every row's token is exactly the fault-free token. */
  private def exact(fault: String, rate: String, tag: String): Outcome = {
    val before = stats()
    val started = System.nanoTime()
    val rows = spark.sql(query(tag)).collect()
    val wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)
    assert(rows.length == Rows)
    rows.foreach(r => assert(r.getString(1) == s"T(${value(tag, r.getLong(0))})", s"row ${r.getLong(0)}"))
    val outcome = Outcome(fault, rate, "exact", delta(before, Counter.Retries), delta(before, Counter.Bisections),
      delta(before, Counter.Throttles), wallMs)
    matrix += outcome
    outcome
  }

  /** The first `n` invocations get `fault`, the rest are answered normally. */
  private def firstCalls(n: Int)(fault: Seq[String] => Reply): Seq[String] => Reply = {
    val count = new AtomicInteger()
    values => if (count.incrementAndGet() <= n) fault(values) else Reply(200, Map.empty, lambda.tokenizeBody(values))
  }

  private def chain(e: Throwable): Seq[Throwable] = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).toSeq

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    spark.udf.register("fail_once", (id: Long) => {
      val task = TaskContext.get()
      if (task.attemptNumber() == 0 && task.partitionId() == 0 && id == 50) throw new RuntimeException("injected task failure")
      id
    })
  }

  private def fresh[T](settings: (String, String)*)(body: => T): T = {
    lambda.reset()
    withConf((Seq("spark.tegridy.batch.maxRows" -> "50", "spark.tegridy.cache.maxEntries" -> "0") ++ settings): _*)(body)
  }

  test("fault-free baseline") {
    fresh() {
      exact("none (warm-up, not in the table)", "-", "warm")
      matrix.clear()
      baselineMs = exact("none", "-", "base").wallMs
    }
  }

  test("429 throttling without Retry-After is retried; output exact") {
    fresh() {
      lambda.respond = firstCalls(3)(_ => FakeLambda.throttled)
      val o = exact("429 TooManyRequests", "first 3 calls", "t429")
      assert(o.retries >= 3 && o.throttles >= 3)
    }
  }

  test("429 with Retry-After is retried after the service's wait; output exact") {
    fresh() {
      lambda.respond = firstCalls(1)(_ => FakeLambda.throttledRetryAfter(1))
      val o = exact("429 with Retry-After: 1", "first call", "t429ra")
      assert(o.retries >= 1 && o.throttles >= 1)
    }
  }

  test("500, 502 and 503 are retried; output exact") {
    fresh() {
      val statuses = Iterator(500, 502, 503)
      lambda.respond = firstCalls(3)(_ => FakeLambda.serverError(statuses.synchronized(statuses.next())))
      assert(exact("HTTP 500/502/503", "first 3 calls", "t5xx").retries >= 3)
    }
  }

  test("an Unhandled function error is retried; output exact") {
    fresh() {
      lambda.respond = firstCalls(2)(_ => FakeLambda.functionError("Unhandled", "Runtime.ExitError"))
      assert(exact("X-Amz-Function-Error: Unhandled", "first 2 calls", "tunh").retries >= 2)
    }
  }

  test("a Handled function error caused by one value is bisected: only that value fails") {
    val poison = value("handled", 123)
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = values =>
        if (values.contains(poison)) FakeLambda.functionError("Handled", "PoisonValueError")
        else Reply(200, Map.empty, lambda.tokenizeBody(values))
      val before = stats()
      val started = System.nanoTime()
      val rows = spark.sql(query("handled")).collect()
      rows.foreach { r =>
        if (r.getLong(0) == 123) assert(r.isNullAt(1))
        else assert(r.getString(1) == s"T(${value("handled", r.getLong(0))})")
      }
      assert(delta(before, Counter.Errors) == 1 && delta(before, Counter.Bisections) >= 1)
      matrix += Outcome("X-Amz-Function-Error: Handled (poison value)", "1 value in 400", "1 NULL (onError=null), 399 exact",
        delta(before, Counter.Retries), delta(before, Counter.Bisections), 0, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
    }
    fresh() {
      lambda.respond = values =>
        if (values.contains(poison)) FakeLambda.functionError("Handled", "PoisonValueError")
        else Reply(200, Map.empty, lambda.tokenizeBody(values))
      val error = intercept[Exception](spark.sql(query("handled")).collect())
      val failure = chain(error).collectFirst { case e: TegridyTokenizationException => e }
      assert(failure.isDefined)
      assert(failure.get.getMessage.contains("tegridy_tokenize_hp failed for 1 value(s)"))
      assert(failure.get.getMessage.contains("X-Amz-Function-Error: Handled"))
      assert(failure.get.getMessage.contains(lambda.endpoint))
      assert(!chain(error).exists(e => CanaryPattern.findFirstIn(String.valueOf(e.getMessage)).isDefined))
    }
  }

  test("items failed transiently are retried as items; output exact") {
    fresh() {
      val seen = ConcurrentHashMap.newKeySet[String]()
      lambda.respond = values => {
        val body = values.map { v =>
          if (v.hashCode % 4 == 0 && seen.add(v)) """{"success":false,"retryable":true,"error":"busy"}"""
          else s"""{"success":true,"token":"${lambda.tokenFor(v)}","data":"$v"}"""
        }.mkString("""{"responses":[""", ",", "]}")
        Reply(200, Map.empty, body)
      }
      assert(exact("item success:false, retryable", "~25% of items once", "titem").retries >= 1)
    }
  }

  test("an item failed permanently is NULL under onError=null, the rest exact") {
    val poison = value("perm", 7)
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = values => {
        val body = values.map { v =>
          if (v == poison) """{"success":false,"error":"cannot tokenize"}"""
          else s"""{"success":true,"token":"${lambda.tokenFor(v)}","data":"$v"}"""
        }.mkString("""{"responses":[""", ",", "]}")
        Reply(200, Map.empty, body)
      }
      val before = stats()
      val rows = spark.sql(query("perm")).collect()
      rows.foreach(r => if (r.getLong(0) == 7) assert(r.isNullAt(1)) else assert(r.getString(1) == s"T(${value("perm", r.getLong(0))})"))
      assert(delta(before, Counter.Errors) == 1)
      matrix += Outcome("item success:false, permanent", "1 value in 400", "1 NULL (onError=null), 399 exact", 0, 0, 0, 0)
    }
  }

  test("malformed JSON is a transport fault: retried, never split; output exact") {
    fresh() {
      lambda.respond = firstCalls(1)(_ => Reply(200, Map.empty, "{\"responses\": [ {\"success\": tru"))
      val o = exact("malformed JSON", "first call", "tjson")
      assert(o.retries >= 1 && o.bisections == 0)
    }
  }

  test("a wrong response count is a protocol break, retried; output exact") {
    fresh() {
      lambda.respond = firstCalls(1)(values => Reply(200, Map.empty, lambda.tokenizeBody(values.drop(1))))
      val o = exact("wrong response count", "first call", "tcount")
      assert(o.retries >= 1 && o.bisections == 0)
    }
  }

  test("a response slower than timeoutMs is retried; output exact") {
    fresh("spark.tegridy.timeoutMs" -> "1000") {
      lambda.respond = firstCalls(1)(values => Reply(200, Map.empty, lambda.tokenizeBody(values), delayMs = 3000))
      assert(exact("response slower than timeoutMs", "first call", "tslow").retries >= 1)
    }
  }

  test("a connection reset mid-response is retried or re-sent; output exact") {
    fresh() {
      lambda.respond = firstCalls(2)(values => Reply(200, Map.empty, lambda.tokenizeBody(values), truncate = true))
      val o = exact("connection reset mid-response", "first 2 calls", "treset")
      // The SDK surfaces a cut body either as an I/O error or as a short body (a protocol
      // break); either way a transport fault, retried.
      assert(o.retries >= 2)
    }
  }

  test("a response over Lambda's 6 MB limit is split until it fits; output exact") {
    fresh() {
      lambda.respond = values =>
        if (values.size > 10) FakeLambda.functionError("Unhandled", "Function.ResponseSizeTooLarge")
        else Reply(200, Map.empty, lambda.tokenizeBody(values))
      assert(exact("response over 6 MB (Function.ResponseSizeTooLarge)", "batches > 10 values", "tbig").bisections >= 1)
    }
  }

  test("no credentials for a real endpoint: fails at once, not retried, saying where credentials come from") {
    lambda.reset()
    withConf("spark.tegridy.lambda.endpoint" -> "https://lambda.us-east-1.amazonaws.com", "spark.tegridy.retry.maxAttempts" -> "5",
      "spark.tegridy.cache.maxEntries" -> "0") {
      assume(sys.env.get("AWS_ACCESS_KEY_ID").isEmpty && sys.env.get("AWS_PROFILE").isEmpty, "AWS credentials present")
      val before = stats()
      val error = intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(concat('c', id)) FROM range(0, 2, 1, 1)").collect())
      val failure = chain(error).collectFirst { case e: TegridyTokenizationException => e }
      assert(failure.exists(_.getMessage.contains("no AWS credentials")))
      assert(delta(before, Counter.Retries) == 0)
    }
  }

  test("connection refused: the query fails in bounded time, naming the endpoint") {
    val dead = "http://127.0.0.1:1"
    lambda.reset()
    withConf("spark.tegridy.lambda.endpoint" -> dead, "spark.tegridy.retry.maxAttempts" -> "3",
      "spark.tegridy.cache.maxEntries" -> "0") {
      val started = System.nanoTime()
      val error = intercept[Exception](spark.sql(query("refused")).collect())
      val failure = chain(error).collectFirst { case e: TegridyTokenizationException => e }
      assert(failure.isDefined)
      assert(failure.get.getMessage.contains("127.0.0.1:1"))
      assert(failure.get.getMessage.contains("could not reach the endpoint"))
      matrix += Outcome("connection refused (service down), retry.maxAttempts=3", "every call", "query fails, names endpoint", 2, 0, 0,
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
    }
  }

  test("adaptive concurrency: a fleet that throttles above N settles the limit near N; output exact") {
    val fleetLimit = 3
    fresh("spark.tegridy.batch.maxRows" -> "5", "spark.tegridy.maxInFlight" -> "16", "spark.tegridy.retry.maxAttempts" -> "30") {
      lambda.respond = values =>
        if (lambda.concurrent.get() > fleetLimit) FakeLambda.throttled
        else Reply(200, Map.empty, lambda.tokenizeBody(values), delayMs = 15)
      val limiter = TegridyRuntime.acquire(sessionConf()).client.concurrency
      val samples = new java.util.concurrent.ConcurrentLinkedQueue[Int]()
      val sampler = new Thread(() => {
        try while (true) { samples.add(limiter.currentLimit); Thread.sleep(5) }
        catch { case _: InterruptedException => }
      })
      sampler.start()
      val o = try exact("429 above N=3 concurrent (fleet limit)", "whenever > 3 in flight", "taimd") finally sampler.interrupt()
      val observed = samples.toArray.toSeq.map(_.asInstanceOf[Int])
      val settled = observed.drop(observed.size / 2)
      assert(o.throttles > 0)
      assert(settled.nonEmpty && settled.max <= 2 * fleetLimit + 1, s"limit stayed high: ${settled.distinct.sorted}")
      assert(settled.sum.toDouble / settled.size <= 2.0 * fleetLimit)
    }
  }

  test("a task that fails once and is retried gives the same output; no request is left in flight") {
    fresh() {
      val tag = "retry"
      val rows = spark.sql(s"""SELECT fail_once(id) AS id, tegridy_tokenize_hp(concat('CANARY-', '$tag-', id)) AS t
                              |FROM range(0, $Rows, 1, 2)""".stripMargin).collect()
      assert(rows.length == Rows)
      rows.foreach(r => assert(r.getString(1) == s"T(${value(tag, r.getLong(0))})"))
      val runtime = TegridyRuntime.acquire(sessionConf())
      val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
      while (runtime.inFlightCount > 0 && System.nanoTime() < deadline) Thread.sleep(10)
      assert(runtime.inFlightCount == 0)
      matrix += Outcome("task fails once, retried by Spark", "1 task", "exact", 0, 0, 0, 0)
    }
  }

  test("bad input: invalid UTF-8 fails clearly (NULL under onError=null) and is never sent") {
    fresh("spark.tegridy.onError" -> "null") {
      val rows = spark.sql(
        """SELECT id, tegridy_tokenize_hp(IF(id = 0, CAST(X'C328' AS STRING), IF(id = 1, CAST(X'EDA080' AS STRING), 'fine'))) AS t
          |FROM range(0, 3, 1, 1) ORDER BY id""".stripMargin).collect()
      assert(rows(0).isNullAt(1) && rows(1).isNullAt(1) && rows(2).getString(1) == "T(fine)")
      assert(lambda.sentValues == Seq("fine"))
    }
    fresh() {
      val error = intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(CAST(X'C328' AS STRING)) FROM range(0, 1, 1, 1)").collect())
      assert(chain(error).exists(e => String.valueOf(e.getMessage).contains("not valid UTF-8")))
    }
  }

  test("bad input: empty partitions, and a 10 MB string that can never fit one invocation") {
    fresh() {
      assert(spark.sql("SELECT tegridy_tokenize_hp(concat('e', id)) FROM range(0, 3, 1, 8)").collect().length == 3)
      assert(spark.sql("SELECT tegridy_tokenize_hp(concat('e', id)) FROM range(0, 0, 1, 4)").collect().isEmpty)
    }
    fresh("spark.tegridy.onError" -> "null") {
      val row = spark.sql("SELECT tegridy_tokenize_hp(concat(repeat('x', 10485760), id)) AS t FROM range(0, 1, 1, 1)").collect().head
      assert(row.isNullAt(0))
      assert(lambda.sentValues.isEmpty)
    }
  }

  test("a million distinct values, each sent once, all answered") {
    lambda.reset()
    withConf("spark.tegridy.cache.maxEntries" -> "10000") {
      val before = stats()
      val n = spark.sql("SELECT tegridy_tokenize_hp(concat('m', id)) AS t FROM range(0, 1000000, 1, 4)")
        .where("t LIKE 'T(m%'").count()
      assert(n == 1000000L)
      assert(delta(before, Counter.ValuesSent) == 1000000L)
    }
  }

  test("no value ever appears in a log line, at any level, in any scenario above") {
    val lines = captured.toArray.toSeq.map(_.toString)
    assert(lines.exists(_.contains("com.tegridy")), "nothing was captured from our code: the capture is broken")
    val leaks = lines.filter(line => CanaryPattern.findFirstIn(line).isDefined || line.contains("T(CANARY"))
    assert(leaks.isEmpty, s"${leaks.size} log line(s) hold a value; first: ${leaks.headOption.map(_.take(300))}")
  }

  test("no value in the Spark UI's labels: plan, SQL metric names and values, the accumulator") {
    lambda.reset()
    val df = spark.sql(query("ui"))
    df.collect()
    val plan = df.queryExecution.executedPlan
    val node = plan.collectFirst { case b: com.tegridy.spark.execution.BatchTokenizeExec => b }.get
    val labels = Seq(plan.toString, df.queryExecution.toString) ++
      node.metrics.map { case (key, metric) => s"$key ${metric.name.getOrElse("")} ${metric.value}" } ++
      Seq(TegridyAccumulator.forContext(spark.sparkContext).value.toString)
    assert(node.metrics.contains("invocations") && node.metrics("invocations").value > 0)
    labels.foreach(label => assert(CanaryPattern.findFirstIn(label).isEmpty && !label.contains("T(CANARY"), label.take(300)))
  }

  override protected def afterAll(): Unit = {
    try {
      println("\nFault matrix (FaultInjectionSuite; wall-clock of a 400-row, 2-partition query, cache off):")
      println(f"| fault | rate | outcome | retries | bisections | throttles | wall ms | vs fault-free |")
      println("|---|---|---|---|---|---|---|---|")
      matrix.foreach { o =>
        val ratio = if (baselineMs > 0 && o.wallMs > 0) f"${o.wallMs.toDouble / baselineMs}%.1f×" else "-"
        println(s"| ${o.fault} | ${o.rate} | ${o.outcome} | ${o.retries} | ${o.bisections} | ${o.throttles} | ${o.wallMs} | $ratio |")
      }
    } finally super.afterAll()
  }
}
