package com.tegridy.spark.metrics

import java.util.concurrent.atomic.AtomicLongArray

/**
 * Counters and an invocation-latency histogram, safe to update from the task thread and the
 * executor's invocation threads at once. Counts and timings only: no value is ever recorded.
 */
final class TegridyStats extends Serializable {
  import TegridyStats._

  private val counters = new AtomicLongArray(Counter.all.size)
  private val latencyBuckets = new AtomicLongArray(LatencyHistogram.BucketCount)

  def add(counter: Counter, amount: Long): Unit = if (amount != 0) counters.addAndGet(counter.index, amount)
  def increment(counter: Counter): Unit = counters.incrementAndGet(counter.index)
  def get(counter: Counter): Long = counters.get(counter.index)

  def recordLatencyNanos(nanos: Long): Unit = {
    latencyBuckets.incrementAndGet(LatencyHistogram.bucketOf(nanos))
    add(Counter.InvocationNanos, nanos)
  }

  def latencyPercentileMs(percentile: Double): Double = LatencyHistogram.percentileMs(latencyCounts, percentile)

  /** The histogram's counts, bucket by bucket (see LatencyHistogram for the bounds). */
  def latencyCounts: Array[Long] = Array.tabulate(LatencyHistogram.BucketCount)(latencyBuckets.get)

  def isEmpty: Boolean =
    Counter.all.forall(c => get(c) == 0) && (0 until LatencyHistogram.BucketCount).forall(latencyBuckets.get(_) == 0)

  def mergeFrom(other: TegridyStats): Unit = {
    Counter.all.foreach(c => add(c, other.get(c)))
    var i = 0
    while (i < LatencyHistogram.BucketCount) {
      val n = other.latencyBuckets.get(i)
      if (n != 0) latencyBuckets.addAndGet(i, n)
      i += 1
    }
  }

  /** These figures without the work counters: what a failed task reports. */
  def withoutWork: TegridyStats = {
    val kept = copy()
    Counter.all.filter(_.work).foreach(c => kept.counters.set(c.index, 0))
    kept
  }

  def copy(): TegridyStats = {
    val fresh = new TegridyStats
    fresh.mergeFrom(this)
    fresh
  }

  /** The contract's keys (`tegridy_tokens.metrics(spark)`), latencies in milliseconds. */
  def asMap: Map[String, Double] = {
    def ratio(a: Counter, b: Counter, scale: Double = 1.0): Double = if (get(b) == 0) 0.0 else get(a) * scale / get(b)
    Counter.all.map(c => c.key -> get(c).toDouble).toMap ++ Map(
      "latency_ms_p50" -> latencyPercentileMs(0.50),
      "latency_ms_p95" -> latencyPercentileMs(0.95),
      "latency_ms_p99" -> latencyPercentileMs(0.99),
      // The seed's derived figures: per distinct value looked up, per invocation, per second of task time.
      "cache_hit_rate" -> ratio(Counter.CacheHits, Counter.DistinctValues),
      "error_rate" -> ratio(Counter.Errors, Counter.DistinctValues),
      "avg_batch_size" -> ratio(Counter.ValuesSent, Counter.Invocations),
      "throughput_rows_per_s" -> ratio(Counter.Rows, Counter.TaskNanos, 1e9))
  }

  override def toString: String = asMap.toSeq.sortBy(_._1).map { case (k, v) => s"$k=$v" }.mkString("TegridyStats(", ", ", ")")
}

object TegridyStats {
  /**
   * One counter: its index, its key for Python and its label in the Spark UI. `work` counters
   * describe the rows a task went through and what they became; a failed task's are dropped (Spark
   * runs the task again and counts them then), while its calls and retries are kept.
   */
  sealed abstract class Counter(val index: Int, val key: String, val label: String, val work: Boolean = false) extends Serializable

  object Counter {
    case object Rows extends Counter(0, "rows", "rows", work = true)
    case object DistinctValues extends Counter(1, "distinct_values", "distinct values looked up", work = true)
    case object CacheHits extends Counter(2, "cache_hits", "cache hits", work = true)
    case object SharedInFlight extends Counter(3, "shared_in_flight", "values shared with another task's request", work = true)
    /** Requests that went out (a byte at least reached the network), whatever came back. */
    case object Invocations extends Counter(4, "invocations", "Lambda invocations")
    case object ValuesSent extends Counter(5, "values_sent", "values sent")
    case object BytesSent extends Counter(6, "bytes_sent", "bytes sent")
    case object BytesReceived extends Counter(7, "bytes_received", "bytes received")
    case object Retries extends Counter(8, "retries", "retries")
    case object Throttles extends Counter(9, "throttles", "throttled invocations")
    /**
     * Values that ended as failures in the output: NULLs under onError=null, counted by the task
     * attempt that output them (a failed or killed attempt's are dropped, as its rows are), and the
     * failing values of a failed query, counted once on the driver (TegridyAccumulator).
     */
    case object Errors extends Counter(10, "errors", "values failed", work = true)
    case object NullsOrBlanks extends Counter(11, "nulls_or_blanks", "NULL or blank values (not sent)", work = true)
    case object InvocationNanos extends Counter(12, "invocation_time_ns", "time in invocations (ns)")
    case object Bisections extends Counter(13, "bisections", "batches split to isolate a failing value")
    case object RowsUnbatched extends Counter(14, "rows_unbatched", "rows evaluated one by one (not batched)", work = true)
    case object RetriesThrottled extends Counter(15, "retries_throttled", "retries after throttling")
    case object RetriesServerError extends Counter(16, "retries_server_error", "retries after a 5xx")
    case object RetriesTimeout extends Counter(17, "retries_timeout", "retries after a timeout")
    case object RetriesConnection extends Counter(18, "retries_connection", "retries after a connection error")
    case object RetriesFunctionError extends Counter(19, "retries_function_error", "retries after a function error")
    case object RetriesItem extends Counter(20, "retries_item", "retries of values the service failed alone")
    case object TaskNanos extends Counter(21, "task_time_ns", "time of the tasks in BatchTokenize (ns)", work = true)
    case object Redacted extends Counter(22, "redacted", "rows safe_detokenize redacted (access denied)", work = true)
    case object RowsWaited extends Counter(23, "rows_waited", "rows copied to wait for their answers (or behind a row that waits)", work = true)
    case object AttemptsUnsent extends Counter(24, "attempts_unsent", "attempts refused before a byte went out")
    case object RetriesProtocol extends Counter(25, "retries_protocol", "retries after a reply that broke the protocol")

    val all: Seq[Counter] = Seq(Rows, DistinctValues, CacheHits, SharedInFlight, Invocations, ValuesSent,
      BytesSent, BytesReceived, Retries, Throttles, Errors, NullsOrBlanks, InvocationNanos, Bisections,
      RowsUnbatched, RetriesThrottled, RetriesServerError, RetriesTimeout, RetriesConnection, RetriesFunctionError,
      RetriesItem, TaskNanos, Redacted, RowsWaited, AttemptsUnsent, RetriesProtocol)
  }
}
