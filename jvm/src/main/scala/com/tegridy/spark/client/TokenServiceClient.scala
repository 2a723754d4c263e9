package com.tegridy.spark.client

import java.util.concurrent.ThreadLocalRandom

import scala.collection.mutable.ArrayBuffer

import org.slf4j.LoggerFactory

import com.tegridy.spark.client.WireProtocol.ItemFailure
import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.errors.TegridyProtocolViolation
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * The tokenization service as batches: values in, one outcome per value out, in order: the
 * answer (a String) or a [[ValueFailure]]. Never a silent NULL, never a lost value.
 *
 * Fault policy, by cause ([[FailureCause]]):
 *  - throttling, 5xx, timeouts, connection errors and Unhandled function errors are retried with
 *    exponential backoff and full jitter (or the service's Retry-After, if longer), within
 *    `retry.maxAttempts` per batch and `retry.totalTimeoutMs` for the batch and its parts;
 *  - items the service fails transiently (`"retryable": true`) are retried as items, alone;
 *  - a whole-batch failure one value can cause (a function error, HTTP 413, a malformed
 *    response) is bisected until the bad value stands alone, so it fails by itself and the
 *    good values in its batch are answered;
 *  - anything else fails the batch's values with the cause.
 * Every attempt goes through the executor's [[AdaptiveConcurrency]] and is counted in `stats`.
 */
class TokenServiceClient(
    conf: TegridyConf,
    invoke: Array[Byte] => Array[Byte],
    release: () => Unit = () => (),
    abortOn: Thread => Unit = _ => ())
  extends AutoCloseable {

  import TokenServiceClient._

  private val log = LoggerFactory.getLogger(classOf[TokenServiceClient])
  val concurrency = new AdaptiveConcurrency(conf.maxInFlight)

  /** Stops the invocation that `thread` is making now, if any (its task was cancelled). */
  def abort(thread: Thread): Unit = abortOn(thread)

  def tokenize(values: IndexedSeq[String], stats: TegridyStats): Array[AnyRef] = resolve(Tokenize, values, stats)

  def detokenize(tokens: IndexedSeq[String], stats: TegridyStats): Array[AnyRef] = resolve(Detokenize, tokens, stats)

  private def resolve(shape: Shape, values: IndexedSeq[String], stats: TegridyStats): Array[AnyRef] = {
    val out = new Array[AnyRef](values.size)
    val deadline = System.nanoTime() + conf.retryTotalTimeoutMs * 1000000L
    solve(shape, values, values.indices, out, deadline, stats)
    out
  }

  private def solve(shape: Shape, values: IndexedSeq[String], indices: IndexedSeq[Int], out: Array[AnyRef],
      deadline: Long, stats: TegridyStats): Unit = {
    var pending = indices
    var attempt = 1
    while (pending.nonEmpty) {
      attemptOnce(shape, pending.map(values), stats) match {
        case Right(outcomes) =>
          val transient = ArrayBuffer[Int]()
          var k = 0
          while (k < pending.length) {
            outcomes(k) match {
              case Right(answer) => out(pending(k)) = answer
              case Left(ItemFailure(true)) => transient += pending(k)
              case Left(_) => out(pending(k)) = ValueFailure(shape.rejected, 1)
            }
            k += 1
          }
          pending = transient.toIndexedSeq
          if (pending.nonEmpty) {
            val backoff = backoffMs(attempt, None)
            if (attempt < conf.retryMaxAttempts && backoff <= timeLeftMs(deadline)) {
              log.warn(s"${shape.name}: the service failed ${pending.size} value(s) transiently; retrying them alone " +
                s"(attempt ${attempt + 1} of ${conf.retryMaxAttempts}) in $backoff ms")
              stats.increment(Counter.Retries)
              Thread.sleep(backoff)
              attempt += 1
            } else {
              val failure = ValueFailure("the service failed the value transiently until the retries ran out " +
                "(spark.tegridy.retry.maxAttempts / retry.totalTimeoutMs)", pending.size)
              pending.foreach(out(_) = failure)
              pending = IndexedSeq.empty
            }
          }

        case Left(failure) =>
          val cause = failure.cause
          val backoff = backoffMs(attempt, cause.retryAfterMs)
          if (cause.retryable && attempt < conf.retryMaxAttempts && backoff <= timeLeftMs(deadline)) {
            log.warn(s"${shape.name}: batch of ${pending.size} value(s) failed: ${cause.description}; retrying " +
              s"(attempt ${attempt + 1} of ${conf.retryMaxAttempts}) in $backoff ms")
            stats.increment(Counter.Retries)
            Thread.sleep(backoff)
            attempt += 1
          } else if (cause.valueCaused && pending.size > 1) {
            // One value may be the cause: halve until it stands alone; the rest get answered.
            log.warn(s"${shape.name}: batch of ${pending.size} value(s) failed: ${cause.description}; splitting it in two " +
              "to isolate the value that causes it")
            stats.increment(Counter.Bisections)
            val (left, right) = pending.splitAt(pending.size / 2)
            solve(shape, values, left, out, deadline, stats)
            solve(shape, values, right, out, deadline, stats)
            pending = IndexedSeq.empty
          } else {
            log.warn(s"${shape.name}: ${pending.size} value(s) failed: ${cause.description} (after $attempt attempt(s))")
            val valueFailure = ValueFailure(cause.description, pending.size)
            pending.foreach(out(_) = valueFailure)
            pending = IndexedSeq.empty
          }
      }
    }
  }

  /** One invocation through the concurrency limit: the per-item outcomes, or why it failed. */
  private def attemptOnce(shape: Shape, items: IndexedSeq[String], stats: TegridyStats)
      : Either[InvokeFailure, Array[Either[ItemFailure, String]]] = {
    val request = shape.request(items)
    val epoch = concurrency.acquire()
    var throttled = false
    stats.increment(Counter.Invocations)
    stats.add(Counter.ValuesSent, items.size)
    stats.add(Counter.BytesSent, request.length)
    val started = System.nanoTime()
    try {
      val payload = invoke(request)
      stats.add(Counter.BytesReceived, payload.length)
      Right(shape.parse(payload, items))
    } catch {
      case violation: TegridyProtocolViolation => Left(new InvokeFailure(FailureCause.Protocol(violation.getMessage)))
      case failure: InvokeFailure =>
        throttled = failure.cause.isInstanceOf[FailureCause.Throttled]
        if (throttled) stats.increment(Counter.Throttles)
        Left(failure)
    } finally {
      stats.recordLatencyNanos(System.nanoTime() - started)
      concurrency.release(epoch, throttled)
    }
  }

  override def close(): Unit = release()
}

object TokenServiceClient {
  private val BaseBackoffMs = 50L
  private val MaxBackoffMs = 20000L

  /** The client over the real AWS SDK Lambda invoker. */
  def forLambda(conf: TegridyConf): TokenServiceClient = {
    val lambda = new LambdaInvoker(conf)
    new TokenServiceClient(conf, lambda.invoke, () => lambda.close(), lambda.abort)
  }

  /** Full jitter, uniform in [0, min(cap, base * 2^(attempt-1))], but at least the service's Retry-After. */
  def backoffMs(attempt: Int, retryAfterMs: Option[Long]): Long = {
    val ceiling = math.min(MaxBackoffMs, BaseBackoffMs << math.min(attempt - 1, 20))
    math.max(ThreadLocalRandom.current().nextLong(ceiling + 1), retryAfterMs.getOrElse(0L))
  }

  private def timeLeftMs(deadline: Long): Long = (deadline - System.nanoTime()) / 1000000L

  /** What differs between the two operations: request, response, and an item's refusal. */
  private sealed abstract class Shape(val name: String, val rejected: String) {
    def request(items: IndexedSeq[String]): Array[Byte]
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]]
  }

  private object Tokenize extends Shape("tokenize", "the service rejected the value") {
    def request(items: IndexedSeq[String]): Array[Byte] = WireProtocol.tokenizeRequest(items)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] =
      WireProtocol.parseTokenizeResponse(payload, items)
  }

  private object Detokenize extends Shape("detokenize", "the token was not found in the vault") {
    private val notFound = Left(ItemFailure(retryable = false))
    def request(items: IndexedSeq[String]): Array[Byte] = WireProtocol.detokenizeRequest(items)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] = {
      val found = WireProtocol.parseDetokenizeResponse(payload)
      items.map(token => Option(found.get(token)).map(Right(_)).getOrElse(notFound)).toArray
    }
  }
}
