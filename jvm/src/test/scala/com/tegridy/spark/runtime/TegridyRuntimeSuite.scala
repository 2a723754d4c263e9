package com.tegridy.spark.runtime

import java.util.concurrent.{CountDownLatch, TimeUnit}
import java.util.concurrent.atomic.AtomicInteger

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.client.{Answer, Operation, RetryPolicy, TokenServiceClient, Transport}
import com.tegridy.spark.config.{Settings, TegridyConf}
import com.tegridy.spark.metrics.TegridyStats

/** The executor-wide runtime over an in-memory client: single-flight, cancellation, cache. */
class TegridyRuntimeSuite extends AnyFunSuite {
  private val conf = TegridyConf.from(Map(Settings.FunctionName.key -> "f"))

  /** In-flight entries are freed just after their futures complete: wait for that. */
  private def drained(rt: TegridyRuntime): Boolean = {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
    while (rt.inFlightCount > 0 && System.nanoTime() < deadline) Thread.sleep(1)
    rt.inFlightCount == 0
  }

  /** A client answering T(v), that waits for `gate` before each call and counts calls. */
  private def runtime(gate: CountDownLatch, calls: AtomicInteger, c: TegridyConf = conf): TegridyRuntime =
    TegridyRuntime.withClient(c, cc => new TokenServiceClient(cc, new Transport {
      def invoke(operation: Operation, request: Array[Byte]): Array[Byte] = {
        calls.incrementAndGet()
        gate.await(30, TimeUnit.SECONDS)
        val text = new String(request, "UTF-8")
        val values = "\"data\":\"([^\"]*)\"".r.findAllMatchIn(text).map(_.group(1)).toSeq
        values.map(v => s"""{"success":true,"token":"T($v)","data":"$v"}""").mkString("""{"responses":[""", ",", "]}").getBytes("UTF-8")
      }
      def abort(thread: Thread): Unit = ()
      def close(): Unit = ()
    }, new RetryPolicy(cc.retryMaxAttempts)))

  /** The eval path: one value through the lookup pipeline as a batch of one. */
  private def evalOne(rt: TegridyRuntime, value: String, stats: TegridyStats): Option[String] = {
    val collector = new BatchCollector(rt, Operation.Tokenize, "f", stats, windowed = false)
    Option(collector.resultOf(collector.lookUp(org.apache.spark.unsafe.types.UTF8String.fromString(value)))).map(_.toString)
  }

  test("two claims of one value: one owner, one sharer, one request") {
    val gate = new CountDownLatch(1)
    val calls = new AtomicInteger()
    val rt = runtime(gate, calls)
    val (mine, owner1) = rt.claim(Operation.Tokenize, "v")
    val (theirs, owner2) = rt.claim(Operation.Tokenize, "v")
    assert(owner1 && !owner2 && (mine eq theirs))
    rt.submit(Operation.Tokenize, IndexedSeq("v"), IndexedSeq(mine), new TegridyStats)
    gate.countDown()
    assert(theirs.get(30, TimeUnit.SECONDS) == Answer.Token("T(v)"))
    assert(calls.get() == 1)
    assert(rt.cached(Operation.Tokenize, "v") == "T(v)" && drained(rt))
  }

  test("a cancelled owner frees its values: the sharer is told and can ask itself") {
    val gate = new CountDownLatch(1)
    val rt = runtime(gate, new AtomicInteger())
    val (mine, _) = rt.claim(Operation.Tokenize, "w")
    val job = rt.submit(Operation.Tokenize, IndexedSeq("w"), IndexedSeq(mine), new TegridyStats)
    val (shared, owner) = rt.claim(Operation.Tokenize, "w")
    assert(!owner)
    job.cancel()
    assert(shared.get(30, TimeUnit.SECONDS) == Answer.Abandoned)
    val (again, ownerNow) = rt.claim(Operation.Tokenize, "w")
    assert(ownerNow && !again.isDone)
    gate.countDown()
    rt.submit(Operation.Tokenize, IndexedSeq("w"), IndexedSeq(again), new TegridyStats)
    assert(again.get(30, TimeUnit.SECONDS) == Answer.Token("T(w)"))
  }

  test("eval path: cache, then one call; cache.maxEntries=0 turns the cache off") {
    val calls = new AtomicInteger()
    val open = new CountDownLatch(0)
    val cached = runtime(open, calls)
    val stats = new TegridyStats
    assert(evalOne(cached, "x", stats).contains("T(x)"))
    assert(evalOne(cached, "x", stats).contains("T(x)"))
    assert(calls.get() == 1 && stats.get(TegridyStats.Counter.CacheHits) == 1)

    val uncachedCalls = new AtomicInteger()
    val uncached = runtime(open, uncachedCalls, TegridyConf.from(Map(Settings.FunctionName.key -> "f", Settings.CacheMaxEntries.key -> "0")))
    evalOne(uncached, "x", stats)
    assert(drained(uncached)) // else the second call would rightly share the first's request
    evalOne(uncached, "x", stats)
    assert(uncachedCalls.get() == 2)
  }

  test("cancelling a job aborts its HTTP call at once, not after the timeout") {
    val lambda = new com.tegridy.spark.testing.FakeLambda()
    val held = new CountDownLatch(1)
    lambda.respond = values => { held.await(60, TimeUnit.SECONDS); com.tegridy.spark.testing.FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values)) }
    try {
      val rt = TegridyRuntime.withClient(TegridyConf.from(Map(Settings.FunctionName.key -> lambda.functionName,
        Settings.Endpoint.key -> lambda.endpoint, Settings.TimeoutMs.key -> "60000")), TokenServiceClient.forLambda)
      val (future, _) = rt.claim(Operation.Tokenize, "held")
      val job = rt.submit(Operation.Tokenize, IndexedSeq("held"), IndexedSeq(future), new TegridyStats)
      val started = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
      while (lambda.invocations.get() == 0 && System.nanoTime() < started) Thread.sleep(5)
      assert(rt.activeInvocationCount == 1)
      job.cancel()
      // The service still holds the request (for 60 s); only an abort ends the call now.
      val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
      while (rt.activeInvocationCount > 0 && System.nanoTime() < deadline) Thread.sleep(5)
      assert(rt.activeInvocationCount == 0)
      assert(held.getCount == 1)
      assert(lambda.invocations.get() == 1, "the cancelled call was retried")
    } finally {
      held.countDown()
      lambda.close()
    }
  }
}
