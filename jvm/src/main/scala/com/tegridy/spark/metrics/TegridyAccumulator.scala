package com.tegridy.spark.metrics

import java.util.concurrent.ConcurrentHashMap

import org.apache.spark.SparkContext
import org.apache.spark.scheduler.{SparkListener, SparkListenerApplicationEnd}
import org.apache.spark.tegridy.SparkInternals
import org.apache.spark.util.AccumulatorV2

import com.tegridy.spark.runtime.TegridyRuntime

/**
 * Carries every task's [[TegridyStats]] back to the driver. One per SparkContext, registered
 * there and captured by each query's expressions and operators, so `tegridy_tokens.metrics(spark)`
 * reads the cumulative figures of all executors. Registered to count failed tasks too: a failed
 * task reports its calls, retries and errors (not its rows, which its retry counts).
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
      // The application's end closes the runtimes of this JVM that nobody uses any more (in
      // local mode, the executors' too); executor JVMs close theirs when they exit.
      context.addSparkListener(new SparkListener {
        override def onApplicationEnd(end: SparkListenerApplicationEnd): Unit = TegridyRuntime.closeIdle(force = true)
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

  /** Zeroes the figures (`tegridy_tokens.metrics(spark, reset=True)`). */
  def reset(sc: SparkContext): Unit = forContext(sc).reset()

  /** The cumulative figures of `sc`'s jobs so far, with the contract's keys. */
  def snapshot(sc: SparkContext): java.util.Map[String, java.lang.Double] = {
    val map = new java.util.TreeMap[String, java.lang.Double]()
    forContext(sc).value.asMap.foreach { case (k, v) => map.put(k, v) }
    map
  }
}
