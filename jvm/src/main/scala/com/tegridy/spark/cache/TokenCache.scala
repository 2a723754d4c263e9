package com.tegridy.spark.cache

import com.github.benmanes.caffeine.cache.{Cache, Caffeine}

/**
 * The executor's token cache: value -> token (and token -> value), bounded by
 * `cache.maxEntries` with Caffeine's W-TinyLFU policy, which keeps frequent values when a
 * stream of one-off values passes through. Safe because the service is convergent.
 */
object TokenCache {
  /** A cache of at most `maxEntries` entries; None when 0 (the cache is off). */
  def create(maxEntries: Long): Option[Cache[String, String]] =
    if (maxEntries == 0) None
    else Some(Caffeine.newBuilder().maximumSize(maxEntries).build[String, String]())
}
