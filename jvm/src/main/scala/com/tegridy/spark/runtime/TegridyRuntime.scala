package com.tegridy.spark.runtime

import java.util.concurrent.{CompletableFuture, ConcurrentHashMap, LinkedBlockingQueue, ThreadFactory, ThreadPoolExecutor, TimeUnit}
import java.util.concurrent.atomic.{AtomicInteger, AtomicLong}

import com.github.benmanes.caffeine.cache.Cache

import com.tegridy.spark.cache.TokenCache
import com.tegridy.spark.client.{TokenServiceClient, ValueFailure, WireProtocol}
import com.tegridy.spark.config.{OnError, TegridyConf}
import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * Executor-wide state, one per configuration, shared by every task of this JVM:
 *  - a bounded cache per operation (the service is convergent: a cached answer is as good as a
 *    fresh one), off when `cache.maxEntries` is 0;
 *  - an in-flight map per operation, so that two tasks needing the same value share one request;
 *  - the service client and `maxInFlight` invocation threads.
 * Rows never reach this level: callers hand it distinct values and get futures back.
 */
final class TegridyRuntime private (val conf: TegridyConf, newClient: TegridyConf => TokenServiceClient) {
  val client: TokenServiceClient = newClient(conf)

  private val caches: IndexedSeq[Option[Cache[String, String]]] =
    Operation.all.map(_ => TokenCache.create(conf.cacheMaxEntries)).toIndexedSeq

  private val inFlight: IndexedSeq[ConcurrentHashMap[String, CompletableFuture[AnyRef]]] =
    Operation.all.map(_ => new ConcurrentHashMap[String, CompletableFuture[AnyRef]]()).toIndexedSeq

  private val invokers: ThreadPoolExecutor = {
    val pool = new ThreadPoolExecutor(conf.maxInFlight, conf.maxInFlight, 30, TimeUnit.SECONDS,
      new LinkedBlockingQueue[Runnable](), TegridyRuntime.daemonThreads)
    pool.allowCoreThreadTimeOut(true) // an idle runtime holds no threads
    pool
  }

  /** Diagnostics, executor-wide: claims that joined another task's request, and open requests. */
  private val sharedClaims = new AtomicLong()
  def sharedClaimCount: Long = sharedClaims.get()
  def inFlightCount: Int = inFlight.map(_.size).sum
  private val activeInvocations = new AtomicInteger()
  /** Batches whose call is under way on an invocation thread right now. */
  def activeInvocationCount: Int = activeInvocations.get()

  /** The cached answer, or null. */
  def cached(operation: Operation, key: String): String =
    caches(operation.index) match {
      case Some(cache) => cache.getIfPresent(key)
      case None => null
    }

  /**
   * The future that will answer `key`, and whether the caller owns it (must send it in a
   * batch) or shares another task's request.
   */
  def claim(operation: Operation, key: String): (CompletableFuture[AnyRef], Boolean) = {
    val mine = new CompletableFuture[AnyRef]()
    val map = inFlight(operation.index)
    var existing = map.putIfAbsent(key, mine)
    // An abandoned request may linger for a moment before its entry is freed: take its place.
    while (existing != null && existing.isCompletedExceptionally) {
      existing = if (map.replace(key, existing, mine)) null else map.putIfAbsent(key, mine)
    }
    if (existing != null) {
      sharedClaims.incrementAndGet()
      (existing, false)
    } else {
      // Answered between the caller's cache miss and this claim: no need to ask again.
      val answer = cached(operation, key)
      if (answer != null) {
        inFlight(operation.index).remove(key, mine)
        mine.complete(answer)
      }
      (mine, true)
    }
  }

  /**
   * A value that alone would make a request larger than `batch.maxBytes` is never sent: this is
   * its failure, or None when it fits.
   */
  def tooLarge(operation: Operation, key: String): Option[ValueFailure] = {
    val size = operation.requestOverhead + operation.itemOverhead + WireProtocol.jsonStringBytes(key)
    if (size <= conf.batchMaxBytes) None
    else Some(ValueFailure(s"a value is larger than one invocation may carry (spark.tegridy.batch.maxBytes = " +
      s"${conf.batchMaxBytes} bytes); it was not sent", 1))
  }

  /** Bytes that are not UTF-8 would reach the service altered (as U+FFFD): never sent. */
  def invalidUtf8: ValueFailure = TegridyRuntime.InvalidUtf8

  /** Gives up owned keys that were never sent (their task ended): sharers will ask again. */
  def abandon(operation: Operation, keys: IndexedSeq[String], futures: IndexedSeq[CompletableFuture[AnyRef]]): Unit =
    new BatchJob(operation, keys, futures, release).abandon()

  /** Sends one batch of owned keys on an invocation thread; answers complete their futures. */
  def submit(operation: Operation, keys: IndexedSeq[String], futures: IndexedSeq[CompletableFuture[AnyRef]],
      stats: TegridyStats): BatchJob = {
    val job = new BatchJob(operation, keys, futures, release, client.abort)
    try job.attach(invokers.submit(new Runnable { def run(): Unit = execute(job, stats) }))
    catch { case e: java.util.concurrent.RejectedExecutionException => job.abandon(); throw e }
    job
  }

  private def execute(job: BatchJob, stats: TegridyStats): Unit = {
    activeInvocations.incrementAndGet()
    job.calling(Thread.currentThread())
    try {
      val answers: Array[AnyRef] = job.operation match {
        case Operation.Tokenize => client.tokenize(job.keys, stats)
        case Operation.Detokenize => client.detokenize(job.keys, stats)
      }
      val cache = caches(job.operation.index)
      var i = 0
      while (i < answers.length) {
        answers(i) match {
          case answer: String => cache.foreach(_.put(job.keys(i), answer))
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

  /**
   * The direct path for one value (`eval` in plans the rule left alone): cache, then a batch of
   * one, sharing any request already in flight. None only under onError=null.
   */
  def resolveOne(operation: Operation, value: String, function: String, stats: TegridyStats): Option[String] = {
    stats.increment(Counter.DistinctValues)
    val hit = cached(operation, value)
    if (hit != null) {
      stats.increment(Counter.CacheHits)
      return Some(hit)
    }
    var answer: AnyRef = tooLarge(operation, value).orNull
    while (answer == null) {
      val (future, owner) = claim(operation, value)
      if (owner && !future.isDone) submit(operation, IndexedSeq(value), IndexedSeq(future), stats)
      else if (!owner) stats.increment(Counter.SharedInFlight)
      answer = try future.get() catch {
        case e: java.util.concurrent.ExecutionException if e.getCause.isInstanceOf[AbandonedRequest] => null
        case e: java.util.concurrent.ExecutionException => throw e.getCause
      }
    }
    answer match {
      case token: String => Some(token)
      case failure: ValueFailure => onFailure(failure, function, stats)
    }
  }

  /** onError=null: NULL, counted; onError=fail: the query fails, naming no value. */
  def onFailure(failure: ValueFailure, function: String, stats: TegridyStats): Option[String] = {
    stats.increment(Counter.Errors)
    conf.onError match {
      case OnError.Null => None
      case OnError.Fail => throw new TegridyTokenizationException(function, conf.describeTarget, failure.reason, failure.batchSize)
    }
  }
}

object TegridyRuntime {
  private val InvalidUtf8 = ValueFailure("the value is not valid UTF-8 and was not sent; repair it first " +
    "(e.g. make_valid_utf8(col)) or filter it out (is_valid_utf8(col))", 1)
  private val runtimes = new ConcurrentHashMap[TegridyConf, TegridyRuntime]()

  /** This JVM's runtime for `conf`, created on first use. */
  def forConf(conf: TegridyConf): TegridyRuntime =
    runtimes.computeIfAbsent(conf, c => new TegridyRuntime(c, TokenServiceClient.forLambda))

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
