package com.tegridy.spark.metrics

/**
 * Fixed log-scale buckets for invocation latency: four per doubling from 0.1 ms to about 28
 * minutes, so a percentile is exact to within 19% whatever the range, and merging two
 * histograms is adding arrays.
 */
object LatencyHistogram {
  private val SmallestNanos = 100000L // 0.1 ms
  private val BucketsPerDoubling = 4
  val BucketCount: Int = 4 * 24 + 2

  /** Upper bound of bucket i in nanoseconds. */
  def upperNanos(i: Int): Double = SmallestNanos * math.pow(2.0, i.toDouble / BucketsPerDoubling)

  def bucketOf(nanos: Long): Int =
    if (nanos <= SmallestNanos) 0
    else math.min(BucketCount - 1, math.ceil(BucketsPerDoubling * (math.log(nanos.toDouble / SmallestNanos) / math.log(2.0))).toInt)

  /** The upper bound (ms) of the bucket holding the given percentile; 0 when empty. */
  def percentileMs(buckets: Array[Long], percentile: Double): Double = {
    val total = buckets.sum
    if (total == 0) return 0.0
    val rank = math.max(1L, math.ceil(percentile * total).toLong)
    var seen = 0L
    var i = 0
    while (i < buckets.length) {
      seen += buckets(i)
      if (seen >= rank) return math.round(upperNanos(i) / 1000.0) / 1000.0
      i += 1
    }
    upperNanos(buckets.length - 1) / 1e6
  }
}
