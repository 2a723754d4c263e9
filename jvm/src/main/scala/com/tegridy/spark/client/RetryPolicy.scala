package com.tegridy.spark.client

import java.util.concurrent.ThreadLocalRandom

/**
 * What to do after a failed invocation, decided from the facts alone (in the manner of the AWS
 * SDK v2's StandardRetryStrategy): retry after a delay, split the batch to isolate a value that
 * may be the cause, or fail. No sleeping and no I/O here: the client acts on the decision.
 *
 * A transport fault (throttling, 5xx, timeouts, connection errors, a reply that breaks the
 * protocol) is retried until the batch's time budget (`retry.totalTimeoutMs`) is spent: the last
 * delay is cut to the time left, so a service that comes back before the deadline is reached.
 * `maxAttempts` is a ceiling that the default budget does not reach first. A retryable fault that
 * one value may cause (an Unhandled function error) gets at most [[RetryPolicy.ValueCausedAttempts]]
 * before the batch is split to isolate the value.
 *
 * `attempt` counts attempts across the whole bisection tree of one batch, so a split half does
 * not start a fresh budget. Delays are exponential with full jitter (uniform in
 * [0, min(20 s, 50 ms * 2^(attempt-1))]), but never shorter than the service's Retry-After.
 */
final class RetryPolicy(maxAttempts: Int, jitter: Long => Long = RetryPolicy.uniform) {
  import RetryPolicy._

  def decide(cause: FailureCause, attempt: Int, timeLeftMs: Long, size: Int): Decision = {
    val ceiling = if (cause.valueCaused) math.min(maxAttempts, ValueCausedAttempts) else maxAttempts
    // A Retry-After past the deadline cannot be honoured; any other delay is cut to the time left.
    val inTime = timeLeftMs > 0 && cause.retryAfterMs.forall(_ <= timeLeftMs)
    if (cause.retryable && attempt < ceiling && inTime) Decision.Retry(math.min(delayMs(attempt, cause.retryAfterMs), timeLeftMs))
    else if (cause.valueCaused && size > 1) Decision.Split
    else Decision.Fail
  }

  /** Items the service failed alone: retried while their own budget and the time allow. */
  def decideItems(attempt: Int, budget: Int, timeLeftMs: Long): Decision = {
    val delay = delayMs(attempt, None)
    if (attempt < budget && delay <= timeLeftMs) Decision.Retry(delay) else Decision.Fail
  }

  def delayMs(attempt: Int, retryAfterMs: Option[Long]): Long = {
    val ceiling = math.min(MaxBackoffMs, BaseBackoffMs << math.min(attempt - 1, 20))
    math.max(jitter(ceiling), retryAfterMs.getOrElse(0L))
  }
}

object RetryPolicy {
  val BaseBackoffMs = 50L
  val MaxBackoffMs = 20000L
  /** Attempts of a batch whose retryable failure one value may cause, before it is split. */
  val ValueCausedAttempts = 8

  private def uniform(ceiling: Long): Long = ThreadLocalRandom.current().nextLong(ceiling + 1)

  sealed trait Decision
  object Decision {
    final case class Retry(delayMs: Long) extends Decision
    case object Split extends Decision
    case object Fail extends Decision
  }
}
