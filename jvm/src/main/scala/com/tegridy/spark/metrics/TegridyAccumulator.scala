package com.tegridy.spark.metrics

import java.util.concurrent.ConcurrentHashMap

import org.apache.spark.SparkContext
import org.apache.spark.scheduler.{SparkListener, SparkListenerApplicationEnd, SparkListenerJobEnd}
import org.apache.spark.tegridy.{DriverChannel, SparkInternals}
import org.apache.spark.util.AccumulatorV2

import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.TegridyRuntime

/**
 * Carries every task's [[TegridyStats]] back to the driver. One per SparkContext, registered
 * there and captured by each query's expressions and operators, so `tegridy_tokens.metrics(spark)`
 * reads the cumulative figures of all executors. Registered to count failed tasks too: a failed
 * task reports its calls and retries (not its rows, nor the values it output, which its retry
 * counts). A task attempt that was killed sends its figures over [[DriverChannel]] instead, since
 * Spark drops the updates of one that ends after its stage; and a query that fails on a value
 * counts that failure's values in `errors` once, here on the driver, however many attempts hit it.
 */
final class TegridyAccumulator extends AccumulatorV2[TegridyStats, TegridyStats] {
  @volatile private var stats = new TegridyStats

  override def isZero: Boolean = stats.isEmpty
  override def copy(): TegridyAccumulator = {
    val other = new TegridyAccumulator
    other.stats = stats.copy()
    other
  }
  override def reset(): Unit = stats = new TegridyStats
  override def add(v: TegridyStats): Unit = stats.mergeFrom(v)
  override def merge(other: AccumulatorV2[TegridyStats, TegridyStats]): Unit = stats.mergeFrom(other.value)
  override def value: TegridyStats = stats
}

object TegridyAccumulator {
  val Name = "tegridy"
  private val bySparkContext = new ConcurrentHashMap[SparkContext, TegridyAccumulator]()

  /** The driver's accumulator for `sc`, registered on first use. Call on the driver only. */
  def forContext(sc: SparkContext): TegridyAccumulator = {
    bySparkContext.keySet().removeIf(_.isStopped) // a stopped context's accumulator is history
    bySparkContext.computeIfAbsent(sc, context => {
      val accumulator = new TegridyAccumulator
      SparkInternals.registerCountingFailedTasks(context, accumulator, Name)
      DriverChannel.listen(context) {
        case figures: TegridyStats => accumulator.add(figures)
        case _ =>
      }
      // The application's end closes the runtimes of this JVM that nobody uses any more (in
      // local mode, the executors' too); executor JVMs close theirs when they exit.
      context.addSparkListener(new SparkListener {
        override def onApplicationEnd(end: SparkListenerApplicationEnd): Unit = TegridyRuntime.closeIdle(force = true)
        override def onJobEnd(end: SparkListenerJobEnd): Unit =
          DriverChannel.failure(end.jobResult).flatMap(failedValues).foreach { count =>
            val errors = new TegridyStats
            errors.add(Counter.Errors, count)
            accumulator.add(errors)
          }
      })
      accumulator
    })
  }

  /**
   * The invocation-latency histogram so far, as (upper bound in ms, count) pairs, so a caller can
   * take percentiles of the difference between two readings (one job's latencies).
   */
  def latencyHistogram(sc: SparkContext): Array[Array[Double]] = {
    val counts = forContext(sc).value.latencyCounts
    counts.indices.map(i => Array(LatencyHistogram.upperNanos(i) / 1e6, counts(i).toDouble)).toArray
  }

  /** The values a failed job's error says failed, when a token function failed it. */
  private def failedValues(error: Throwable): Option[Long] =
    Iterator.iterate(error)(_.getCause).takeWhile(_ != null).take(20)
      .collectFirst { case failure: TegridyTokenizationException => failure.failedValues }

  /** Zeroes the figures (`tegridy_tokens.metrics(spark, reset=True)`). */
  def reset(sc: SparkContext): Unit = forContext(sc).reset()

  /** The cumulative figures of `sc`'s jobs so far, with the contract's keys. */
  def snapshot(sc: SparkContext): java.util.Map[String, java.lang.Double] = {
    val map = new java.util.TreeMap[String, java.lang.Double]()
    forContext(sc).value.asMap.foreach { case (k, v) => map.put(k, v) }
    map
  }
}
