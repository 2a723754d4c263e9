package com.tegridy.spark.cache

import com.github.benmanes.caffeine.cache.{Cache, Caffeine}

/**
 * The executor's token cache for one operation: value -> token (or token -> value), at most
 * `cache.maxEntries` entries in two tiers. Safe because the service is convergent.
 *
 *  - The recency tier ([[RecentTier]], three quarters of the entries) is read first and admits
 *    every new answer, first in first out: an answer stays until that many newer ones arrived.
 *    So a job's working set is kept even when earlier jobs filled the cache, and no value of a
 *    job is sent twice while its distinct values fit in three quarters of the cache. (A
 *    simulation of the zipf benchmark, 82K distinct values in 4 tasks after a fill of 100K:
 *    1.39 values sent per distinct with half, 1.01 with three quarters.)
 *  - The main tier (Caffeine W-TinyLFU, the last quarter) keeps the values that are used again
 *    over time. It is offered what the recency tier pushes out if it was read there, or anything
 *    while it has room; Caffeine's frequency filter then decides. A stream of one-off values never
 *    reaches it once it is full, so its frequent values are scan-proof.
 *
 * Caffeine alone would refuse a new job's working set once it is full: its admission filter
 * prefers the incumbents to keys it has seen once (issue 15).
 */
final class TokenCache private (maxEntries: Long) {
  /** Three quarters of the bound, rounded up, is the recency tier; the rest is the main tier. */
  val recentCapacity: Int = math.min(maxEntries - maxEntries / 4, Int.MaxValue - 8L).toInt
  val mainCapacity: Long = maxEntries - recentCapacity

  private val recent = new RecentTier(recentCapacity)
  private val main: Cache[String, String] = Caffeine.newBuilder().maximumSize(mainCapacity).build[String, String]()

  /** The cached token, or null. */
  def get(key: String): String = {
    val token = recent.get(key)
    if (token != null) token else main.getIfPresent(key)
  }

  def put(key: String, token: String): Unit = {
    if (main.asMap().containsKey(key)) return // already kept; the token is the same
    val pushedOut = recent.put(key, token)
    if (pushedOut != null && (pushedOut.read || main.estimatedSize() < mainCapacity)) {
      main.put(pushedOut.key, pushedOut.token)
      // Replays its read, so that Caffeine's frequency filter weighs it against the victim as a
      // value seen twice: a one-off value never beats an incumbent that was used again.
      if (pushedOut.read) main.getIfPresent(pushedOut.key)
    }
  }

  /** Entries held now (approximate while writes are under way). */
  def size: Long = recent.size + main.estimatedSize()

  /** Lets the main tier finish pending evictions (measurements and tests). */
  def cleanUp(): Unit = main.cleanUp()

  def clear(): Unit = {
    recent.clear()
    main.invalidateAll()
  }
}

object TokenCache {
  /** A cache of at most `maxEntries` entries; None when 0 (the cache is off). */
  def create(maxEntries: Long): Option[TokenCache] =
    if (maxEntries <= 0) None else Some(new TokenCache(maxEntries))
}
