package com.tegridy.spark.reliability

import java.util.concurrent.{ConcurrentHashMap, TimeUnit}
import java.util.concurrent.atomic.{AtomicInteger, AtomicReference}

import org.scalatest.concurrent.Eventually
import org.scalatest.funsuite.AnyFunSuite
import org.scalatest.time.{Seconds, Span}

import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}
import com.tegridy.spark.testing.FakeLambda.Reply

/**
 * A value failure is only what the service says about a value: replies that break the protocol
 * (garbage, a cut body, headers without a body, a reply to another request) are transport faults,
 * retried at any depth of bisection and never a NULL; a restart is ridden out; the figures count
 * what was sent, what never left, and the values that ended as failures, once each.
 * local[2]: no task retry, so a fault the client does not absorb shows.
 */
class TransportFaultsSuite extends AnyFunSuite with LocalSparkSession with Eventually {
  private val Rows = 400
  private def query(tag: String): String = s"SELECT id, tegridy_tokenize_hp(concat('$tag-', id)) AS t FROM range(0, $Rows, 1, 2)"
  private def stats(): TegridyStats = TegridyAccumulator.forContext(spark.sparkContext).value.copy()
  private def figure(s: TegridyStats, key: String): Double = s.asMap.getOrElse(key, -1.0)
  private def chain(e: Throwable): Seq[Throwable] = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).toSeq

  private def fresh[T](settings: (String, String)*)(body: => T): T = {
    lambda.reset()
    withConf((Seq("spark.tegridy.batch.maxRows" -> "50", "spark.tegridy.cache.maxEntries" -> "0") ++ settings): _*)(body)
  }

  private def assertExact(tag: String): Unit = {
    val rows = spark.sql(query(tag)).collect()
    assert(rows.length == Rows)
    val wrong = rows.filterNot(r => r.getString(1) == s"T($tag-${r.getLong(0)})")
    assert(wrong.isEmpty, s"${wrong.length} row(s) not exact, ${wrong.count(_.isNullAt(1))} of them NULL")
  }

  /** Each request holding `poison` gets `fault` the first `times` times one arrives, alone or in a batch. */
  private def poisonedReplies(poison: String, times: Int)(fault: Seq[String] => Reply): Seq[String] => Reply = {
    val seen = new AtomicInteger()
    values => if (values.contains(poison) && seen.incrementAndGet() <= times) fault(values)
      else Reply(200, Map.empty, lambda.tokenizeBody(values))
  }

  test("a garbage reply, down to the value alone, is retried as a transport fault: no NULL, exact") {
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = poisonedReplies("garbage-123", 8)(_ => Reply(200, Map.empty, "<html>502 Bad Gateway</html>"))
      assertExact("garbage")
    }
  }

  test("headers without a body and a cut body, down to the value alone, are retried: no NULL, exact") {
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = poisonedReplies("empty-7", 8)(_ => Reply(200, Map.empty, ""))
      assertExact("empty")
    }
    fresh("spark.tegridy.onError" -> "null") {
      lambda.respond = poisonedReplies("cut-8", 8)(values => Reply(200, Map.empty, lambda.tokenizeBody(values).dropRight(7)))
      assertExact("cut")
    }
  }

  test("a reply that keeps breaking the protocol is an outage under onError=null, naming the endpoint and the cause") {
    fresh("spark.tegridy.onError" -> "null", "spark.tegridy.retry.maxAttempts" -> "3") {
      lambda.respond = poisonedReplies("broken-5", Int.MaxValue)(_ => Reply(200, Map.empty, "{\"responses\": 42}"))
      val error = intercept[Exception](spark.sql(query("broken")).collect())
      val failure = chain(error).collectFirst { case e: TegridyTokenizationException => e }
      assert(failure.isDefined, chain(error).map(_.getMessage).mkString(" | "))
      val message = failure.get.getMessage
      assert(failure.get.serviceFault)
      assert(message.contains(lambda.endpoint) && message.contains("breaks the protocol"))
      assert(!message.contains("refused the value") && message.contains("whatever spark.tegridy.onError says"))
    }
  }

  test("detokenize: a replayed reply to another request, or an empty one for tokens the vault issued, is retried") {
    fresh("spark.tegridy.onError" -> "null") {
      val stale = new AtomicReference[String](lambda.detokenizeBody(Seq("T(another-request-1)", "T(another-request-2)")))
      val first = ConcurrentHashMap.newKeySet[String]()
      lambda.respondDetokenize = tokens =>
        if (first.add(tokens.head)) {
          // Half the batches get another request's answer, half an answer that finds nothing.
          if (math.abs(tokens.head.hashCode) % 2 == 0) Reply(200, Map.empty, stale.get()) else Reply(200, Map.empty, """{"tokens":{}}""")
        } else Reply(200, Map.empty, lambda.detokenizeBody(tokens))
      val rows = spark.sql(s"SELECT id, tegridy_detokenize_hp(tegridy_tokenize_hp(concat('round-', id))) AS v " +
        s"FROM range(0, $Rows, 1, 2)").collect()
      val wrong = rows.filterNot(r => r.getString(1) == s"round-${r.getLong(0)}")
      assert(first.size() > 0)
      assert(wrong.isEmpty, s"${wrong.length} row(s) not exact, ${wrong.count(_.isNullAt(1))} of them NULL")
    }
  }

  test("protocol=redshift, verify=sample: a replayed earlier reply of the same length is caught; no wrong token") {
    fresh("spark.tegridy.protocol" -> "redshift", "spark.tegridy.redshift.verify" -> "sample") {
      val previous = new AtomicReference[Seq[String]](null)
      val replayed = new AtomicInteger()
      lambda.respondRedshift = (function, values) => {
        if (function.endsWith("-detokenize")) Reply(200, Map.empty, lambda.redshiftBody(function, values))
        else {
          val earlier = previous.getAndSet(values)
          if (earlier != null && earlier.size == values.size && earlier != values && replayed.incrementAndGet() % 2 == 1)
            Reply(200, Map.empty, lambda.redshiftBody(function, earlier))
          else Reply(200, Map.empty, lambda.redshiftBody(function, values))
        }
      }
      assertExact("replay")
      assert(replayed.get() > 0, "no reply was replayed: the test proves nothing")
    }
  }

  test("a 10 s restart (connections refused) is ridden out with the default retry settings; exact") {
    val down = new FakeLambda()
    val endpoint = down.endpoint
    val downPort = endpoint.split(":").last.toInt
    down.close()
    fresh("spark.tegridy.lambda.endpoint" -> endpoint) {
      val restarted = new AtomicReference[FakeLambda]()
      val restarter = new Thread(() => { Thread.sleep(10000); restarted.set(new FakeLambda(port = downPort)) })
      restarter.start()
      val before = stats()
      try {
        assertExact("restart")
        val after = stats()
        restarter.join()
        // Every refused attempt is counted as unsent, never as an invocation the service did not get.
        assert(figure(after, "attempts_unsent") - figure(before, "attempts_unsent") > 0)
        assert(figure(after, "invocations") - figure(before, "invocations") == restarted.get().invocations.get())
      } finally {
        restarter.join()
        Option(restarted.get()).foreach(_.close())
      }
    }
  }

  test("a service down for good fails within retry.totalTimeoutMs, naming the endpoint") {
    val down = new FakeLambda()
    val endpoint = down.endpoint
    down.close()
    fresh("spark.tegridy.lambda.endpoint" -> endpoint, "spark.tegridy.retry.totalTimeoutMs" -> "3000", "spark.tegridy.onError" -> "null") {
      val error = intercept[Exception](spark.sql(query("outage")).collect())
      val message = chain(error).collectFirst { case e: TegridyTokenizationException => e.getMessage }.getOrElse("")
      assert(message.contains(endpoint) && message.contains("could not reach the endpoint"), message)
    }
  }

  test("a cancelled job's calls are counted: the engine's invocations cover the service's") {
    fresh("spark.tegridy.batch.maxRows" -> "10") {
      // Calls slow enough that no task can end on its own while the job is cancelled.
      lambda.respond = values => Reply(200, Map.empty, lambda.tokenizeBody(values), delayMs = 2000)
      val before = stats()
      spark.sparkContext.setJobGroup("cancel-me", "cancelled on purpose", interruptOnCancel = true)
      val runner = new Thread(() => try spark.sql(query("cancel")).collect() catch { case _: Throwable => })
      runner.start()
      eventually(timeout(Span(30, Seconds))) { assert(lambda.invocations.get() >= 4) }
      spark.sparkContext.cancelJobGroup("cancel-me")
      runner.join(TimeUnit.SECONDS.toMillis(60))
      spark.sparkContext.clearJobGroup()
      eventually(timeout(Span(30, Seconds))) {
        val sent = figure(stats(), "invocations") - figure(before, "invocations")
        // Every call the service took is counted; a call aborted just after its bytes left may be
        // counted without the fake's server having dispatched it (at most one per invocation thread).
        val received = lambda.invocations.get()
        assert(sent >= received && sent <= received + 16, s"engine $sent, service $received, unsent " +
          s"${figure(stats(), "attempts_unsent") - figure(before, "attempts_unsent")}")
      }
    }
  }
}
