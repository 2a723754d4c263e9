package com.tegridy.spark.client

/**
 * The executor's limit on invocations at once, adapted to the service: halved when Lambda
 * throttles (at most once per round of calls: calls started before the last cut do not cut
 * again), raised by one per round of successes, never above `maxInFlight`. A fleet that throttles
 * above N concurrent calls settles this limit near N instead of being hammered at `maxInFlight`.
 */
final class AdaptiveConcurrency(maxInFlight: Int) {
  private var limit: Double = maxInFlight
  private var inUse = 0
  private var epoch = 0L

  /** Waits for a free place; returns the epoch the call starts in. Interruptible. */
  def acquire(): Long = synchronized {
    while (inUse >= math.max(1, limit.toInt)) wait()
    inUse += 1
    epoch
  }

  def release(startedIn: Long, throttled: Boolean): Unit = synchronized {
    inUse -= 1
    if (throttled) {
      if (startedIn == epoch) { limit = math.max(1.0, limit / 2); epoch += 1 }
    } else {
      limit = math.min(maxInFlight.toDouble, limit + 1.0 / limit)
    }
    notifyAll()
  }

  def currentLimit: Int = synchronized(math.max(1, limit.toInt))
}
