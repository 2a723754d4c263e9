package com.tegridy.spark.client

import java.util.concurrent.ThreadLocalRandom

import com.tegridy.spark.client.WireProtocol.ItemFailure
import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.errors.TegridyProtocolViolation
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * The tokenization service as batches: a list of values in, one outcome per value out, in
 * order. Transient faults (throttling, 5xx, timeouts, connection errors, Unhandled function
 * errors) are retried with exponential backoff and full jitter, within `retry.maxAttempts` and
 * `retry.totalTimeoutMs`; anything else fails at once. Every attempt is counted in `stats`.
 */
class TokenServiceClient(
    conf: TegridyConf,
    invoke: Array[Byte] => Array[Byte],
    release: () => Unit = () => (),
    abortOn: Thread => Unit = _ => ())
  extends AutoCloseable {

  /** Stops the invocation that `thread` is making now, if any (its task was cancelled). */
  def abort(thread: Thread): Unit = abortOn(thread)

  /** One entry per value, in order: the token, or the service's refusal of that value. */
  def tokenize(values: IndexedSeq[String], stats: TegridyStats): Array[Either[ItemFailure, String]] = {
    val request = WireProtocol.tokenizeRequest(values)
    withRetries(stats) { WireProtocol.parseTokenizeResponse(timedInvoke(request, values.size, stats), values) }
  }

  /** token -> value for the tokens the service found; a missing token was not found. */
  def detokenize(tokens: IndexedSeq[String], stats: TegridyStats): java.util.HashMap[String, String] = {
    val request = WireProtocol.detokenizeRequest(tokens)
    withRetries(stats) { WireProtocol.parseDetokenizeResponse(timedInvoke(request, tokens.size, stats)) }
  }

  private def timedInvoke(request: Array[Byte], values: Int, stats: TegridyStats): Array[Byte] = {
    stats.increment(Counter.Invocations)
    stats.add(Counter.ValuesSent, values)
    stats.add(Counter.BytesSent, request.length)
    val started = System.nanoTime()
    try {
      val response = invoke(request)
      stats.add(Counter.BytesReceived, response.length)
      response
    } finally stats.recordLatencyNanos(System.nanoTime() - started)
  }

  private def withRetries[T](stats: TegridyStats)(call: => T): T = {
    val deadline = System.nanoTime() + conf.retryTotalTimeoutMs * 1000000L
    var attempt = 1
    while (true) {
      try {
        return call
      } catch {
        case violation: TegridyProtocolViolation =>
          throw new InvokeFailure(FailureCause.Protocol(violation.getMessage))
        case failure: InvokeFailure =>
          if (failure.cause.isInstanceOf[FailureCause.Throttled]) stats.increment(Counter.Throttles)
          val backoffMs = TokenServiceClient.backoffMs(attempt)
          val timeLeftMs = (deadline - System.nanoTime()) / 1000000L
          if (!failure.cause.retryable || attempt >= conf.retryMaxAttempts || backoffMs > timeLeftMs) throw failure
          stats.increment(Counter.Retries)
          Thread.sleep(backoffMs)
          attempt += 1
      }
    }
    throw new IllegalStateException("unreachable")
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

  /** Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
  def backoffMs(attempt: Int): Long = {
    val ceiling = math.min(MaxBackoffMs, BaseBackoffMs << math.min(attempt - 1, 20))
    ThreadLocalRandom.current().nextLong(ceiling + 1)
  }
}
