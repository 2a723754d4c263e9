package com.tegridy.spark.runtime

import java.util.concurrent.{CompletableFuture, ConcurrentHashMap, LinkedBlockingQueue, ThreadFactory, ThreadPoolExecutor, TimeUnit}
import java.util.concurrent.atomic.{AtomicInteger, AtomicLong}

import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.cache.TokenCache
import com.tegridy.spark.client.{Answer, CallContext, Failure, Operation, ServiceFailure, TokenServiceClient, ValueFailure}
import com.tegridy.spark.config.{OnError, TegridyConf}
import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * Executor-wide state, one per configuration, shared by every task of this JVM:
 *  - a bounded cache per operation (the service is convergent: a cached answer is as good as a
 *    fresh one) that admits each job's working set ([[TokenCache]]), off when `cache.maxEntries` is 0;
 *  - an in-flight map per operation, so that two tasks needing the same value share one request;
 *  - the service client and `maxInFlight` invocation threads.
 * Rows never reach this level: a task's [[BatchCollector]] hands it distinct values and gets
 * futures back. Runtimes are leased ([[TegridyRuntime.acquire]]); an idle one is closed.
 */
final class TegridyRuntime private (val conf: TegridyConf, newClient: TegridyConf => TokenServiceClient) {
  val client: TokenServiceClient = newClient(conf)

  private val caches: IndexedSeq[Option[TokenCache]] =
    Operation.all.map(_ => TokenCache.create(conf.cacheMaxEntries)).toIndexedSeq

  private val inFlight: IndexedSeq[ConcurrentHashMap[String, CompletableFuture[Answer]]] =
    Operation.all.map(_ => new ConcurrentHashMap[String, CompletableFuture[Answer]]()).toIndexedSeq

  private val invokers: ThreadPoolExecutor = {
    val pool = new ThreadPoolExecutor(conf.maxInFlight, conf.maxInFlight, 30, TimeUnit.SECONDS,
      new LinkedBlockingQueue[Runnable](), TegridyRuntime.daemonThreads)
    pool.allowCoreThreadTimeOut(true) // an idle runtime holds no threads
    pool
  }

  // The lease, guarded by the registry's lock.
  private var users = 0
  private var lastUsedNanos = System.nanoTime()
  @volatile private var closed = false
  def isClosed: Boolean = closed

  /** Diagnostics, executor-wide: claims that joined another task's request, and open requests. */
  private val sharedClaims = new AtomicLong()
  def sharedClaimCount: Long = sharedClaims.get()
  def inFlightCount: Int = inFlight.map(_.size).sum
  private val activeInvocations = new AtomicInteger()
  /** Batches whose call is under way on an invocation thread right now. */
  def activeInvocationCount: Int = activeInvocations.get()
  /** Invocation threads alive now (they exit after 30 s idle, and at close). */
  def liveThreadCount: Int = invokers.getPoolSize

  /** The cached answer, or null. */
  def cached(operation: Operation, key: String): String =
    caches(operation.index) match {
      case Some(cache) => cache.get(key)
      case None => null
    }

  /**
   * The future that will answer `key`, and whether the caller owns it (must send it in a
   * batch) or shares another task's request.
   */
  def claim(operation: Operation, key: String): (CompletableFuture[Answer], Boolean) = {
    val mine = new CompletableFuture[Answer]()
    val map = inFlight(operation.index)
    var existing = map.putIfAbsent(key, mine)
    // An abandoned request may linger for a moment before its entry is freed: take its place.
    while (existing != null && existing.isDone && (existing.getNow(null) eq Answer.Abandoned)) {
      existing = if (map.replace(key, existing, mine)) null else map.putIfAbsent(key, mine)
    }
    if (existing != null) {
      sharedClaims.incrementAndGet()
      (existing, false)
    } else {
      // Answered between the caller's cache miss and this claim: no need to ask again.
      val answer = cached(operation, key)
      if (answer != null) {
        map.remove(key, mine)
        mine.complete(Answer.Token(answer))
      }
      (mine, true)
    }
  }

  def requestOverheadBytes(operation: Operation, function: String): Long = client.requestOverheadBytes(operation, function)
  def itemBytes(operation: Operation, key: String): Long = client.itemBytes(operation, key)

  /** A value that alone would make a request larger than `batch.maxBytes`: never sent. */
  def tooLarge: ValueFailure = ValueFailure(s"a value is larger than one invocation may carry " +
    s"(spark.tegridy.batch.maxBytes = ${conf.batchMaxBytes} bytes); it was not sent", 1)

  /** Bytes that are not UTF-8 would reach the service altered (as U+FFFD): never sent. */
  def invalidUtf8: ValueFailure = TegridyRuntime.InvalidUtf8

  /** Gives up owned keys that were never sent (their task ended): sharers will ask again. */
  def abandon(operation: Operation, keys: IndexedSeq[String], futures: IndexedSeq[CompletableFuture[Answer]]): Unit =
    new BatchJob(operation, keys, futures, release).abandon()

  /** Sends one batch of owned keys on an invocation thread; answers complete their futures. */
  def submit(operation: Operation, keys: IndexedSeq[String], futures: IndexedSeq[CompletableFuture[Answer]],
      stats: TegridyStats, context: CallContext = CallContext.Unknown): BatchJob = {
    val job = new BatchJob(operation, keys, futures, release, client.abort, context)
    try job.attach(invokers.submit(new Runnable { def run(): Unit = execute(job, stats) }))
    catch { case e: java.util.concurrent.RejectedExecutionException => job.abandon(); throw e }
    job
  }

  /**
   * What a failed value gives its rows: NULL for a value failure under onError=null (counted in `errors`);
   * otherwise the query fails, naming the count and the cause, never the value. A service
   * failure fails the query whatever `onError` says.
   */
  def onFailure(failure: Failure, operation: Operation, function: String, stats: TegridyStats): UTF8String = {
    val target = conf.describeTarget(operation)
    failure match {
      // A failure that fails the query is counted once, on the driver, from the query's error.
      case _: ValueFailure if conf.onError == OnError.Null => stats.increment(Counter.Errors); null
      case value: ValueFailure => throw TegridyTokenizationException.valueFailed(function, target, value)
      case denied: ServiceFailure if denied.accessDenied => throw TegridyTokenizationException.accessDenied(function, target, denied)
      case service: ServiceFailure => throw TegridyTokenizationException.serviceFailed(function, target, service)
    }
  }

  private def execute(job: BatchJob, stats: TegridyStats): Unit = {
    if (!job.start()) return // cancelled with its task before its turn came
    activeInvocations.incrementAndGet()
    job.calling(Thread.currentThread())
    try {
      val answers = client.call(job.operation, job.keys, stats, job.context)
      val cache = caches(job.operation.index)
      var i = 0
      while (i < answers.length) {
        answers(i) match {
          case Answer.Token(text) => cache.foreach(_.put(job.keys(i), text))
          case _ =>
        }
        job.futures(i).complete(answers(i))
        i += 1
      }
    } catch {
      case _: InterruptedException => // cancelled by its task; abandon() below tells the sharers
      case other: Throwable => job.futures.foreach(_.completeExceptionally(other))
    } finally {
      job.called()
      activeInvocations.decrementAndGet()
      job.abandon() // completes nothing already completed; frees the in-flight entries
      job.finish()
    }
  }

  private def release(job: BatchJob): Unit = {
    val map = inFlight(job.operation.index)
    var i = 0
    while (i < job.keys.length) {
      map.remove(job.keys(i), job.futures(i))
      i += 1
    }
  }

  /** Threads, connections and cache go; only ever called with no user left. */
  private def close(): Unit = {
    closed = true
    invokers.shutdownNow()
    caches.foreach(_.foreach(_.clear()))
    try client.close() catch { case scala.util.control.NonFatal(_) => }
  }
}

object TegridyRuntime {
  private val InvalidUtf8 = ValueFailure("the value is not valid UTF-8 and was not sent; repair it first " +
    "(e.g. make_valid_utf8(col)) or filter it out (is_valid_utf8(col))", 1)

  /** How long a runtime nobody uses stays open, and how many idle ones are kept at most. */
  private val IdleNanos = TimeUnit.SECONDS.toNanos(120)
  private val MaxIdle = 3

  private val runtimes = new java.util.LinkedHashMap[TegridyConf, TegridyRuntime]()
  sys.addShutdownHook(closeIdle(force = true))

  /**
   * This JVM's runtime for `conf`, created on first use, leased until [[release]]. Each lease
   * also closes runtimes that nobody has used for a while, and all but the newest few idle ones:
   * changing a setting makes a new runtime, and the old one must not hold its threads forever.
   */
  def acquire(conf: TegridyConf): TegridyRuntime = runtimes.synchronized {
    var runtime = runtimes.get(conf)
    if (runtime == null || runtime.closed) {
      runtime = new TegridyRuntime(conf, TokenServiceClient.forLambda)
      runtimes.put(conf, runtime)
    }
    runtime.users += 1
    runtime.lastUsedNanos = System.nanoTime()
    closeIdle(force = false)
    runtime
  }

  def release(runtime: TegridyRuntime): Unit = runtimes.synchronized {
    runtime.users -= 1
    runtime.lastUsedNanos = System.nanoTime()
    closeIdle(force = false)
  }

  /** Runtimes open in this JVM (diagnostics and tests). */
  def openCount: Int = runtimes.synchronized(runtimes.size)

  /** Closes every idle runtime (the application ended, or the JVM exits when `force`). */
  def closeIdle(force: Boolean): Unit = runtimes.synchronized {
    val now = System.nanoTime()
    val idle = new java.util.ArrayList[TegridyRuntime]()
    runtimes.values.forEach(r => if (r.users <= 0) idle.add(r))
    idle.sort((a, b) => java.lang.Long.compare(b.lastUsedNanos, a.lastUsedNanos)) // newest first
    var kept = 0
    idle.forEach { r =>
      if (force || now - r.lastUsedNanos > IdleNanos || kept >= MaxIdle) {
        runtimes.remove(r.conf, r)
        r.close()
      } else kept += 1
    }
  }

  /** A runtime over a given client, outside the shared registry (tests). */
  def withClient(conf: TegridyConf, client: TegridyConf => TokenServiceClient): TegridyRuntime =
    new TegridyRuntime(conf, client)

  private val threadCount = new AtomicInteger()
  private val daemonThreads: ThreadFactory = (task: Runnable) => {
    val thread = new Thread(task, s"tegridy-invoke-${threadCount.incrementAndGet()}")
    thread.setDaemon(true)
    thread
  }
}
